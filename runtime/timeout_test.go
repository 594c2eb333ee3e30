package runtime

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/deadline"
	"github.com/edgefn/edgefn/runtime/fn"
)

func TestTimeoutSetsDeadlineOnContext(t *testing.T) {
	const d = time.Hour
	var seen context.Context
	inv := withTimeout(InvokerFunc(func(ctx context.Context, _ *fn.Event) (*fn.Result, error) {
		seen = ctx
		return &fn.Result{}, nil
	}), d)

	before := time.Now()
	if _, err := inv.Invoke(WithRequestID(context.Background(), "req-7"), &fn.Event{}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	deadline, ok := seen.Deadline()
	if !ok {
		t.Fatal("the ctx handed on has no deadline")
	}
	if deadline.Before(before.Add(d)) || deadline.After(after.Add(d)) {
		t.Errorf("deadline = %v, want within [%v, %v]", deadline, before.Add(d), after.Add(d))
	}
	if got := RequestID(seen); got != "req-7" {
		t.Errorf("RequestID = %q, want the caller's values kept", got)
	}
	// The deadline's timer is released when the call returns.
	if !errors.Is(seen.Err(), context.Canceled) {
		t.Errorf("handed-on ctx after return: Err() = %v, want context.Canceled", seen.Err())
	}
}

func TestTimeoutKeepsEarlierCallerDeadline(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want, _ := parent.Deadline()
	inv := withTimeout(InvokerFunc(func(ctx context.Context, _ *fn.Event) (*fn.Result, error) {
		if got, _ := ctx.Deadline(); !got.Equal(want) {
			t.Errorf("deadline = %v, want the caller's earlier %v", got, want)
		}
		return &fn.Result{}, nil
	}), time.Hour)
	if _, err := inv.Invoke(parent, &fn.Event{}); err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutMapsDeadlineToErrTimeout(t *testing.T) {
	// What a function that outlives its deadline answers does not matter: the caller gets a 504.
	answers := []struct {
		name string
		err  func(ctx context.Context) error
	}{
		{"ctx.Err()", func(ctx context.Context) error { return ctx.Err() }},
		{"wrapped ctx.Err()", func(ctx context.Context) error { return fmt.Errorf("call: %w", ctx.Err()) }},
		{"ErrNotReady", func(context.Context) error { return ErrNotReady }},
		{"fn.Error", func(context.Context) error { return fn.Errorf(400, "late") }},
	}
	for _, tc := range answers {
		t.Run(tc.name, func(t *testing.T) {
			inv := withTimeout(InvokerFunc(func(ctx context.Context, _ *fn.Event) (*fn.Result, error) {
				<-ctx.Done() // a slow function: answers only once its deadline has passed
				return nil, tc.err(ctx)
			}), 10*time.Millisecond)
			res, err := inv.Invoke(context.Background(), &fn.Event{})
			if res != nil || !errors.Is(err, ErrTimeout) {
				t.Fatalf("Invoke = %v, %v; want nil, ErrTimeout", res, err)
			}
			if status, _, _ := HTTPStatus(err); status != 504 {
				t.Errorf("HTTP status = %d, want 504", status)
			}
		})
	}
}

func TestTimeoutKeepsCrash(t *testing.T) {
	for _, crash := range []error{ErrCrashed, fmt.Errorf("instance: %w", ErrCrashed)} {
		inv := withTimeout(InvokerFunc(func(ctx context.Context, _ *fn.Event) (*fn.Result, error) {
			<-ctx.Done() // the process died just as the deadline passed
			return nil, crash
		}), time.Millisecond)
		if _, err := inv.Invoke(context.Background(), &fn.Event{}); err != crash {
			t.Errorf("err = %v, want the crash %v kept (a 502, not a 504)", err, crash)
		}
	}
}

func TestTimeoutPassesErrorsBeforeDeadline(t *testing.T) {
	for _, want := range []error{fn.Errorf(409, "conflict"), ErrCrashed, &FunctionError{Detail: "x"}} {
		inv := withTimeout(InvokerFunc(func(context.Context, *fn.Event) (*fn.Result, error) {
			return nil, want
		}), time.Hour)
		if _, err := inv.Invoke(context.Background(), &fn.Event{}); err != want {
			t.Errorf("err = %v, want %v unchanged", err, want)
		}
	}
}

func TestTimeoutCallerCancelIsNotATimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	inv := withTimeout(InvokerFunc(func(ctx context.Context, _ *fn.Event) (*fn.Result, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}), time.Hour)
	if _, err := inv.Invoke(ctx, &fn.Event{}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled: the caller left, the function did not time out", err)
	}
}

// An instance waits for a call's deadline on a pooled timer, for the caller's cancellation on
// the caller's context; a timer back in the pool brings no stale expiry to the next call.
func TestWaitForACall(t *testing.T) {
	c := deadline.New(context.Background(), time.Now().Add(5*time.Millisecond))
	w := waitFor(c)
	select {
	case <-w.expired:
	case <-w.done:
		t.Fatal("done fired for a caller that did not cancel")
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline never fired")
	}
	w.release()
	c.Cancel()

	for range 100 { // timers that were reset and stopped before firing return to the pool
		c := deadline.New(context.Background(), time.Now().Add(time.Millisecond))
		w := waitFor(c)
		w.release()
		c.Cancel()
	}
	time.Sleep(5 * time.Millisecond)
	parent, cancel := context.WithCancel(context.Background())
	c = deadline.New(parent, time.Now().Add(time.Hour))
	w = waitFor(c)
	select {
	case <-w.expired:
		t.Fatal("a stale expiry reached a call with an hour to go")
	default:
	}
	cancel()
	<-w.done
	if err := waitErr(c); !errors.Is(err, context.Canceled) {
		t.Fatalf("waitErr = %v, want Canceled", err)
	}
	w.release()
	c.Cancel()

	// Any other context: done is its own Done, with no timer.
	plain, cancelPlain := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelPlain()
	w = waitFor(plain)
	<-w.done
	if w.expired != nil || !errors.Is(waitErr(plain), ErrTimeout) {
		t.Fatalf("plain ctx: expired %v, waitErr %v; want no timer and ErrTimeout", w.expired, waitErr(plain))
	}
	w.release()
}
