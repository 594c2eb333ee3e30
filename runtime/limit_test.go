package runtime

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// limitWait bounds every wait on another goroutine in these tests.
const limitWait = 10 * time.Second

// limitGate is a function that holds each call until the test releases it, and records how
// many calls were inside it at once.
type limitGate struct {
	entered chan struct{}
	release chan error

	cur, peak atomic.Int32
}

func newLimitGate() *limitGate {
	return &limitGate{entered: make(chan struct{}, 1000), release: make(chan error)}
}

func (g *limitGate) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	eachEvent(g.Invoke).invoke(ctx, evs, out)
}

func (g *limitGate) Invoke(ctx context.Context, _ *event.Event) (*event.Result, error) {
	n := g.cur.Add(1)
	defer g.cur.Add(-1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.entered <- struct{}{}
	if err := <-g.release; err != nil {
		return nil, err
	}
	return &event.Result{Status: 200}, nil
}

// waitEntered waits until a call is inside the gate.
func (g *limitGate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(limitWait):
		t.Fatal("no call reached the function")
	}
}

// limitInvokeAsync runs one event through l in a goroutine and returns the channel its error arrives on.
func limitInvokeAsync(ctx context.Context, l stage) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := invokeOne(ctx, l, &event.Event{})
		done <- err
	}()
	return done
}

func limitRecvErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(limitWait):
		t.Fatal("the call did not return")
		return nil
	}
}

func TestLimitBoundsInflight(t *testing.T) {
	const concurrency, callers = 3, 20
	gate := newLimitGate()
	l := withLimit(gate, concurrency, time.Hour)

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := invokeOne(context.Background(), l, &event.Event{})
			errs <- err
		})
	}

	// While every slot is taken, a call that cannot wait (its ctx is already done) is refused
	// at once rather than let in.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	wantFull := func() {
		t.Helper()
		if err := limitRecvErr(t, limitInvokeAsync(cancelled, l)); !errors.Is(err, ErrOverloaded) {
			t.Fatalf("a call while %d are in flight: err = %v, want ErrOverloaded", concurrency, err)
		}
	}

	// Let calls in one at a time as slots free: every caller gets through eventually, and the
	// function never sees more than `concurrency` at once.
	entered := 0
	for ; entered < concurrency; entered++ {
		gate.waitEntered(t)
	}
	wantFull()
	if n := l.inflight(); n != concurrency {
		t.Fatalf("inflight() = %d with the limit reached, want %d", n, concurrency)
	}
	for released := 0; released < callers; released++ {
		gate.release <- nil
		if entered < callers {
			gate.waitEntered(t)
			entered++
			wantFull()
		}
		if n := l.inflight(); n > concurrency {
			t.Fatalf("inflight() = %d, above the limit %d", n, concurrency)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a waiting call failed: %v", err)
		}
	}
	if p := gate.peak.Load(); p != concurrency {
		t.Errorf("peak calls inside the function = %d, want %d", p, concurrency)
	}
	if n := l.inflight(); n != 0 {
		t.Errorf("inflight() = %d after all calls returned, want 0", n)
	}
}

func TestLimitWaiterGetsTheFreedSlot(t *testing.T) {
	gate := newLimitGate()
	l := withLimit(gate, 1, time.Hour)

	first := limitInvokeAsync(context.Background(), l)
	gate.waitEntered(t)
	second := limitInvokeAsync(context.Background(), l)

	gate.release <- nil // first returns, its slot goes to second
	if err := limitRecvErr(t, first); err != nil {
		t.Fatalf("first: %v", err)
	}
	gate.waitEntered(t)
	gate.release <- nil
	if err := limitRecvErr(t, second); err != nil {
		t.Fatalf("second, after waiting for the slot: %v", err)
	}
}

func TestLimitOverloadedAfterWait(t *testing.T) {
	for _, wait := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(wait.String(), func(t *testing.T) {
			gate := newLimitGate()
			l := withLimit(gate, 1, wait)
			first := limitInvokeAsync(context.Background(), l)
			gate.waitEntered(t)

			start := time.Now()
			err := limitRecvErr(t, limitInvokeAsync(context.Background(), l))
			if waited := time.Since(start); waited < wait {
				t.Errorf("excess call failed after %v, before its wait of %v", waited, wait)
			}
			if !errors.Is(err, ErrOverloaded) {
				t.Fatalf("excess call: err = %v, want ErrOverloaded", err)
			}
			var re *Error
			if !errors.As(err, &re) || re.Status != 503 || re.RetryAfter <= 0 {
				t.Errorf("err = %#v, want a 503 with Retry-After", err)
			}
			if n := l.inflight(); n != 1 {
				t.Errorf("inflight() = %d after a rejected call, want 1 (it took no slot)", n)
			}

			gate.release <- nil
			if err := limitRecvErr(t, first); err != nil {
				t.Fatalf("first: %v", err)
			}
			if got := gate.peak.Load(); got != 1 {
				t.Errorf("the function saw %d calls at once, want 1", got)
			}
		})
	}
}

func TestLimitCancelWhileWaiting(t *testing.T) {
	gate := newLimitGate()
	l := withLimit(gate, 1, time.Hour)
	first := limitInvokeAsync(context.Background(), l)
	gate.waitEntered(t)

	ctx, cancel := context.WithCancel(context.Background())
	second := limitInvokeAsync(ctx, l)
	cancel()
	if err := limitRecvErr(t, second); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("cancelled waiter: err = %v, want ErrOverloaded", err)
	}
	if n := l.inflight(); n != 1 {
		t.Errorf("inflight() = %d, want 1", n)
	}

	gate.release <- nil
	if err := limitRecvErr(t, first); err != nil {
		t.Fatalf("first: %v", err)
	}
	if n := l.inflight(); n != 0 {
		t.Errorf("inflight() = %d after all returned, want 0", n)
	}
}

func TestLimitReleasesSlotOnErrors(t *testing.T) {
	const concurrency = 2
	failures := []error{ErrCrashed, ErrTimeout, event.Errorf(400, "bad"), &FunctionError{Detail: "x"}, context.Canceled}
	for _, failure := range failures {
		t.Run(failure.Error(), func(t *testing.T) {
			// wait 0: a leaked slot would show as ErrOverloaded on a later call.
			l := withLimit(eachEvent(func(context.Context, *event.Event) (*event.Result, error) {
				return nil, failure
			}), concurrency, 0)
			for i := range 10 * concurrency {
				if _, err := invokeOne(context.Background(), l, &event.Event{}); err != failure {
					t.Fatalf("call %d: err = %v, want %v", i, err, failure)
				}
			}
			if n := l.inflight(); n != 0 {
				t.Fatalf("inflight() = %d after failed calls, want 0", n)
			}
		})
	}

	t.Run("panic", func(t *testing.T) {
		l := withLimit(eachEvent(func(context.Context, *event.Event) (*event.Result, error) {
			panic("bug below the limit")
		}), 1, 0)
		for range 3 {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("the panic did not propagate")
					}
				}()
				invokeOne(context.Background(), l, &event.Event{})
			}()
		}
		if n := l.inflight(); n != 0 {
			t.Fatalf("inflight() = %d after panics, want 0", n)
		}
	})
}

func TestLimitPassesContextAndResult(t *testing.T) {
	want := &event.Result{Status: 202}
	l := withLimit(eachEvent(func(ctx context.Context, _ *event.Event) (*event.Result, error) {
		if RequestID(ctx) != "req-1" {
			t.Errorf("RequestID = %q, want the caller's ctx passed on", RequestID(ctx))
		}
		return want, nil
	}), 1, 0)
	got, err := invokeOne(WithRequestID(context.Background(), "req-1"), l, &event.Event{})
	if err != nil || got != want {
		t.Fatalf("Invoke = %v, %v; want the function's result", got, err)
	}
}

// A batch takes a slot per event: it runs the part it has slots for, then the rest as slots
// free, never more at once than the limit.
func TestLimitBatchRunsWhatHasSlotsThenTheRest(t *testing.T) {
	g := newLimitGate()
	l := withLimit(g, 2, limitWait)
	out := make([]outcome, 5)
	done := make(chan struct{})
	go func() { l.invoke(context.Background(), batchOf(5), out); close(done) }()
	for range 5 {
		g.waitEntered(t)
		g.release <- nil
	}
	select {
	case <-done:
	case <-time.After(limitWait):
		t.Fatal("the batch did not finish")
	}
	if p := g.peak.Load(); p > 2 {
		t.Errorf("%d invocations ran at once under a limit of 2", p)
	}
	for k, o := range out {
		if o.err != nil || o.res == nil || o.res.Status != 200 {
			t.Errorf("event %d: %+v, want a 200 result", k, o)
		}
	}
	if n := l.inflight(); n != 0 {
		t.Errorf("%d slots still held after the batch", n)
	}
}

// The events of a batch that find no slot within the wait fail with ErrOverloaded.
func TestLimitBatchSheds(t *testing.T) {
	g := newLimitGate()
	l := withLimit(g, 1, 50*time.Millisecond)
	held := limitInvokeAsync(context.Background(), l)
	g.waitEntered(t)
	out := make([]outcome, 3)
	l.invoke(context.Background(), batchOf(3), out)
	for k, o := range out {
		if !errors.Is(o.err, ErrOverloaded) {
			t.Errorf("event %d: %v, want ErrOverloaded", k, o.err)
		}
	}
	g.release <- nil
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
