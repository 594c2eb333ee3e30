package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/deadline"
	"github.com/edgefn/edgefn/runtime/event"
)

func TestTimeoutSetsDeadlineOnContext(t *testing.T) {
	const d = time.Hour
	var seen context.Context
	inv := withTimeout(eachEvent(func(ctx context.Context, _ *event.Event) (*event.Result, error) {
		seen = ctx
		return &event.Result{}, nil
	}), d)

	before := time.Now()
	if _, err := invokeOne(WithRequestID(context.Background(), "req-7"), inv, &event.Event{}); err != nil {
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
	inv := withTimeout(eachEvent(func(ctx context.Context, _ *event.Event) (*event.Result, error) {
		if got, _ := ctx.Deadline(); !got.Equal(want) {
			t.Errorf("deadline = %v, want the caller's earlier %v", got, want)
		}
		return &event.Result{}, nil
	}), time.Hour)
	if _, err := invokeOne(parent, inv, &event.Event{}); err != nil {
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
		{"event.Error", func(context.Context) error { return event.Errorf(400, "late") }},
	}
	for _, tc := range answers {
		t.Run(tc.name, func(t *testing.T) {
			inv := withTimeout(eachEvent(func(ctx context.Context, _ *event.Event) (*event.Result, error) {
				<-ctx.Done() // a slow function: answers only once its deadline has passed
				return nil, tc.err(ctx)
			}), 10*time.Millisecond)
			res, err := invokeOne(context.Background(), inv, &event.Event{})
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
		inv := withTimeout(eachEvent(func(ctx context.Context, _ *event.Event) (*event.Result, error) {
			<-ctx.Done() // the process died just as the deadline passed
			return nil, crash
		}), time.Millisecond)
		if _, err := invokeOne(context.Background(), inv, &event.Event{}); err != crash {
			t.Errorf("err = %v, want the crash %v kept (a 502, not a 504)", err, crash)
		}
	}
}

func TestTimeoutPassesErrorsBeforeDeadline(t *testing.T) {
	for _, want := range []error{event.Errorf(409, "conflict"), ErrCrashed, &FunctionError{Detail: "x"}} {
		inv := withTimeout(eachEvent(func(context.Context, *event.Event) (*event.Result, error) {
			return nil, want
		}), time.Hour)
		if _, err := invokeOne(context.Background(), inv, &event.Event{}); err != want {
			t.Errorf("err = %v, want %v unchanged", err, want)
		}
	}
}

func TestTimeoutCallerCancelIsNotATimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	inv := withTimeout(eachEvent(func(ctx context.Context, _ *event.Event) (*event.Result, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}), time.Hour)
	if _, err := invokeOne(ctx, inv, &event.Event{}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled: the caller left, the function did not time out", err)
	}
}

// An instance waits for what ends a call before its deadline: for the timeout stage's
// deadline.Context, its parent's Done, so that it makes no timer of its own.
func TestDoneOf(t *testing.T) {
	c := deadline.New(context.Background(), time.Now().Add(time.Hour))
	defer c.Cancel()
	if doneOf(c) != nil {
		t.Error("doneOf(deadline over Background) is not nil: an HTTP call would wait on a select")
	}
	parent, cancel := context.WithCancel(context.Background())
	c = deadline.New(parent, time.Now().Add(time.Hour))
	defer c.Cancel()
	cancel()
	select {
	case <-doneOf(c):
	default:
		t.Fatal("doneOf(deadline over a canceled parent) is not done")
	}
	if err := waitErr(c); !errors.Is(err, context.Canceled) {
		t.Errorf("waitErr = %v, want Canceled", err)
	}

	plain, cancelPlain := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelPlain()
	<-doneOf(plain) // any other context: its own Done
	if err := waitErr(plain); !errors.Is(err, ErrTimeout) {
		t.Errorf("waitErr(plain past its deadline) = %v, want ErrTimeout", err)
	}
}

// The deadline fails the events of a batch that had not finished by then, and only those.
func TestTimeoutBatchFailsWhatDidNotFinish(t *testing.T) {
	slow := eachEvent(func(ctx context.Context, ev *event.Event) (*event.Result, error) {
		if ev.Type == "slow" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return &event.Result{Status: 200}, nil
	})
	out := make([]outcome, 2)
	withTimeout(slow, 20*time.Millisecond).invoke(context.Background(),
		[]*event.Event{{Type: "fast"}, {Type: "slow"}}, out)
	if out[0].err != nil {
		t.Errorf("fast event: %v", out[0].err)
	}
	if !errors.Is(out[1].err, ErrTimeout) {
		t.Errorf("slow event: %v, want ErrTimeout", out[1].err)
	}
}

// wrapStage hands its next stage a context wrapped around its own, as a stage or a library
// between the timeout and the instance may do.
type wrapStage struct {
	next stage
	wrap func(context.Context) context.Context
}

func (w wrapStage) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	w.next.invoke(w.wrap(ctx), evs, out)
}

// ownContext is a context type of its own around another.
type ownContext struct{ context.Context }

type wrapKey struct{}

// An instance waits for a call under the timeout stage's deadline.Context without a timer of
// its own (doneOf); a context wrapped around that one, by context.WithValue or by a type of
// its own, is waited for through its Done: the call still ends at the deadline, and when its
// caller leaves, rather than when the plugin answers.
func TestDoneOfFallsBackForWrappedContexts(t *testing.T) {
	inst := startTestfn(t)
	wraps := []struct {
		name string
		wrap func(context.Context) context.Context
	}{
		{"context.WithValue", func(ctx context.Context) context.Context { return context.WithValue(ctx, wrapKey{}, 1) }},
		{"a context type of its own", func(ctx context.Context) context.Context { return ownContext{ctx} }},
	}
	for _, w := range wraps {
		t.Run(w.name, func(t *testing.T) {
			// sleep answers 200 after 3s whatever its ctx says: an error means the call ended first.
			timed := withTimeout(wrapStage{inst, w.wrap}, 100*time.Millisecond)
			if _, err := invokeOne(context.Background(), timed, sleepFor("3000")); !errors.Is(err, ErrTimeout) {
				t.Errorf("a call past its deadline: %v, want ErrTimeout", err)
			}

			chain := withTimeout(wrapStage{inst, w.wrap}, time.Hour)
			ctx, leave := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := invokeOne(ctx, chain, sleepFor("3000"))
				done <- err
			}()
			for until := time.Now().Add(limitWait); ; runtime.Gosched() {
				inst.mu.Lock()
				n := len(inst.pending)
				inst.mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(until) {
					t.Fatal("the call did not reach the instance")
				}
			}
			leave()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("a call whose caller left: %v, want context.Canceled", err)
			}
		})
	}
}
