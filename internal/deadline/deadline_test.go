package deadline

import (
	"context"
	"errors"
	"testing"
	"time"
)

type key struct{}

// For those who wait on it, a Context is done at its deadline as a context.WithDeadline is,
// and so are its children; values come from the parent.
func TestDoneAtTheDeadline(t *testing.T) {
	c := New(context.WithValue(context.Background(), key{}, "v"), time.Now().Add(20*time.Millisecond))
	defer c.Cancel()
	if c.Err() != nil {
		t.Fatalf("Err before the deadline = %v, want nil", c.Err())
	}
	child, cancel := context.WithCancel(c)
	defer cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child was not canceled at the deadline")
	}
	<-c.Done()
	if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v, child's = %v; want DeadlineExceeded for both", c.Err(), child.Err())
	}
	if c.Value(key{}) != "v" || child.Value(key{}) != "v" {
		t.Fatal("the parent's values are lost")
	}
}

// Err tells the deadline, the parent's end or the cancel when no one asked for Done, and Done
// asked for afterwards agrees with it.
func TestErrWithoutDone(t *testing.T) {
	c := New(context.Background(), time.Now().Add(-time.Millisecond)) // already past
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err past the deadline = %v, want DeadlineExceeded", c.Err())
	}
	c.Cancel() // after the deadline: it stays DeadlineExceeded
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after a late Cancel = %v, want DeadlineExceeded", c.Err())
	}
	assertDone(t, c, context.DeadlineExceeded)

	c = New(context.Background(), time.Now().Add(time.Hour))
	c.Cancel()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after Cancel = %v, want Canceled", c.Err())
	}
	assertDone(t, c, context.Canceled)

	parent, cancelParent := context.WithCancel(context.Background())
	c = New(parent, time.Now().Add(time.Hour))
	cancelParent()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after the parent's cancel = %v, want Canceled", c.Err())
	}
	assertDone(t, c, context.Canceled)
}

// Cancel after Done was asked for cancels the context Done made.
func TestCancelAfterDone(t *testing.T) {
	c := New(context.Background(), time.Now().Add(time.Hour))
	done := c.Done()
	c.Cancel()
	select {
	case <-done:
	default:
		t.Fatal("Done is not closed after Cancel")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want Canceled", c.Err())
	}
}

// A parent's earlier deadline stands.
func TestParentsEarlierDeadline(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want, _ := parent.Deadline()
	c := New(parent, time.Now().Add(time.Hour))
	if got, ok := c.Deadline(); !ok || !got.Equal(want) {
		t.Fatalf("Deadline = %v, %v; want the parent's %v", got, ok, want)
	}
	if c.Parent() != parent {
		t.Fatal("Parent is not the parent")
	}
}

func assertDone(t *testing.T, c *Context, want error) {
	t.Helper()
	select {
	case <-c.Done():
	default:
		t.Fatal("Done asked for after the end is not closed")
	}
	if !errors.Is(c.Err(), want) {
		t.Fatalf("Err once Done was made = %v, want %v", c.Err(), want)
	}
}

// The point of the package: a call that ends with no one waiting on Done makes no context and
// no timer, whatever else it asks (the deadline, values, Err) and however it ends.
func TestNoTimerUnlessDoneIsAsked(t *testing.T) {
	c := New(context.WithValue(context.Background(), key{}, "v"), time.Now().Add(time.Hour))
	c.Deadline()
	c.Value(key{})
	_ = c.Err()
	c.Cancel()
	_ = c.Err()
	if c.inner.Load() != nil {
		t.Fatal("a context and its timer were made though no one asked for Done")
	}
	c.Done()
	if c.inner.Load() == nil {
		t.Fatal("Done made no context")
	}
}
