package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// breakerWait bounds every wait on another goroutine in these tests; it is a deadline for a
// condition, never a pause.
const breakerWait = 10 * time.Second

// breakerClock is a fake clock for breaker.now: time moves only when a test advances it.
type breakerClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *breakerClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *breakerClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// breakerScript answers every call with the error it currently holds and counts its calls.
type breakerScript struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (s *breakerScript) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *breakerScript) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *breakerScript) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	eachEvent(s.Invoke).invoke(ctx, evs, out)
}

func (s *breakerScript) Invoke(context.Context, *event.Event) (*event.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	return &event.Result{Status: 200}, nil
}

func newTestBreaker(next stage, failures int, cooldown time.Duration) (*breaker, *breakerClock) {
	clock := &breakerClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := withBreaker(next, failures, cooldown)
	b.now = clock.now
	return b, clock
}

// tripBreaker fails calls until b opens.
func tripBreaker(t *testing.T, b *breaker, next *breakerScript) {
	t.Helper()
	next.set(ErrCrashed)
	for range b.failures {
		if _, err := invokeOne(context.Background(), b, &event.Event{}); !errors.Is(err, ErrCrashed) {
			t.Fatalf("tripping call: err = %v, want ErrCrashed", err)
		}
	}
	if got := b.State(); got != BreakerOpen {
		t.Fatalf("State() = %q after %d failures, want %q", got, b.failures, BreakerOpen)
	}
}

// wantCircuitOpen checks that err is the fast failure of an open breaker with the given Retry-After.
func wantCircuitOpen(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	if !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err %T is not an *Error", err)
	}
	if re.Status != 503 {
		t.Errorf("Status = %d, want 503", re.Status)
	}
	if re.RetryAfter != retryAfter {
		t.Errorf("RetryAfter = %v, want %v", re.RetryAfter, retryAfter)
	}
}

func TestBreakerOpensAfterConsecutiveFailures(t *testing.T) {
	failures := []struct {
		name string
		err  error
	}{
		{"event.Error 500", event.Errorf(500, "boom")},
		{"event.Error 503", event.Errorf(503, "down")},
		{"FunctionError", &FunctionError{Detail: "nil pointer"}},
		{"FunctionError panic", &FunctionError{Detail: "panic", Panic: true}},
		{"ErrCrashed", ErrCrashed},
		{"ErrTimeout", ErrTimeout},
		{"wrapped ErrCrashed", fmt.Errorf("instance 2: %w", ErrCrashed)},
		{"wrapped event.Error 502", fmt.Errorf("call: %w", event.Errorf(502, "upstream"))},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			const cooldown = 30 * time.Second
			next := &breakerScript{err: tc.err}
			b, _ := newTestBreaker(next, 3, cooldown)

			for i := 1; i <= 3; i++ {
				if got := b.State(); got != BreakerClosed {
					t.Fatalf("State() = %q before failure %d, want closed", got, i)
				}
				if _, err := invokeOne(context.Background(), b, &event.Event{}); err != tc.err {
					t.Fatalf("failure %d: err = %v, want the function's error passed through", i, err)
				}
			}
			if got := b.State(); got != BreakerOpen {
				t.Fatalf("State() = %q after 3 failures, want open", got)
			}

			_, err := invokeOne(context.Background(), b, &event.Event{})
			wantCircuitOpen(t, err, cooldown)
			if n := next.count(); n != 3 {
				t.Errorf("next called %d times, want 3: an open breaker must not call the function", n)
			}
		})
	}
}

func TestBreakerIgnoresCallerErrorsAndShedding(t *testing.T) {
	notFailures := []struct {
		name string
		err  error
	}{
		{"event.Error 400", event.Errorf(400, "bad input")},
		{"event.Error 404", event.Errorf(404, "no such order")},
		{"event.Error 409", event.Errorf(409, "conflict")},
		{"event.Error 429", event.Errorf(429, "slow down")},
		{"ErrOverloaded", ErrOverloaded},
		{"wrapped ErrOverloaded", fmt.Errorf("limit: %w", ErrOverloaded)},
		{"ErrStopping", ErrStopping},
	}
	for _, tc := range notFailures {
		t.Run(tc.name, func(t *testing.T) {
			next := &breakerScript{err: tc.err}
			b, _ := newTestBreaker(next, 3, time.Minute)
			for i := range 20 {
				if _, err := invokeOne(context.Background(), b, &event.Event{}); err != tc.err {
					t.Fatalf("call %d: err = %v, want %v", i, err, tc.err)
				}
			}
			if got := b.State(); got != BreakerClosed {
				t.Errorf("State() = %q after 20 x %v, want closed", got, tc.err)
			}
			if n := next.count(); n != 20 {
				t.Errorf("next called %d times, want 20", n)
			}
		})
	}
}

func TestBreakerCountsConsecutiveFailuresOnly(t *testing.T) {
	cases := []struct {
		name  string
		calls []error
		want  string
	}{
		{"success resets the count", []error{ErrCrashed, ErrCrashed, nil, ErrCrashed, ErrCrashed}, BreakerClosed},
		{"an answered 4xx resets the count", []error{ErrCrashed, ErrCrashed, event.Errorf(400, "x"), ErrCrashed, ErrCrashed}, BreakerClosed},
		{"shedding neither counts nor resets", []error{ErrCrashed, ErrOverloaded, ErrCrashed, ErrStopping, ErrCrashed}, BreakerOpen},
		{"mixed failures count together", []error{ErrTimeout, &FunctionError{}, event.Errorf(500, "x")}, BreakerOpen},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := &breakerScript{}
			b, _ := newTestBreaker(next, 3, time.Minute)
			for _, err := range tc.calls {
				next.set(err)
				if _, got := invokeOne(context.Background(), b, &event.Event{}); got != err {
					t.Fatalf("err = %v, want %v", got, err)
				}
			}
			if got := b.State(); got != tc.want {
				t.Errorf("State() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBreakerOpenRetryAfterCountsDown(t *testing.T) {
	const cooldown = 40 * time.Second
	next := &breakerScript{}
	b, clock := newTestBreaker(next, 2, cooldown)
	tripBreaker(t, b, next)

	clock.advance(10 * time.Second)
	_, err := invokeOne(context.Background(), b, &event.Event{})
	wantCircuitOpen(t, err, 30*time.Second)

	clock.advance(29 * time.Second)
	_, err = invokeOne(context.Background(), b, &event.Event{})
	wantCircuitOpen(t, err, time.Second)
	if got := b.State(); got != BreakerOpen {
		t.Errorf("State() = %q 1s before the cooldown ends, want open", got)
	}

	// The returned error is a fresh value: the sentinel itself is never modified.
	if ErrCircuitOpen.RetryAfter != time.Second {
		t.Errorf("ErrCircuitOpen.RetryAfter = %v, the sentinel was modified", ErrCircuitOpen.RetryAfter)
	}
}

func TestBreakerStateReporting(t *testing.T) {
	const cooldown = 5 * time.Second
	next := &breakerScript{}
	b, clock := newTestBreaker(next, 1, cooldown)
	if got := b.State(); got != BreakerClosed {
		t.Fatalf("new breaker: State() = %q, want closed", got)
	}
	tripBreaker(t, b, next)
	clock.advance(cooldown - time.Nanosecond)
	if got := b.State(); got != BreakerOpen {
		t.Fatalf("State() = %q just before the cooldown ends, want open", got)
	}
	clock.advance(time.Nanosecond)
	// Reported as half-open as soon as a probe would be let through, before any call arrives.
	if got := b.State(); got != BreakerHalfOpen {
		t.Fatalf("State() = %q when the cooldown ended, want half-open", got)
	}
	next.set(nil)
	if _, err := invokeOne(context.Background(), b, &event.Event{}); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := b.State(); got != BreakerClosed {
		t.Fatalf("State() = %q after a successful probe, want closed", got)
	}
}

// breakerGate blocks each call until the test releases it with the error to return.
type breakerGate struct {
	entered chan struct{}
	release chan error
	calls   atomic.Int32
}

func newBreakerGate() *breakerGate {
	return &breakerGate{entered: make(chan struct{}, 100), release: make(chan error)}
}

func (g *breakerGate) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	eachEvent(g.Invoke).invoke(ctx, evs, out)
}

func (g *breakerGate) Invoke(ctx context.Context, _ *event.Event) (*event.Result, error) {
	g.calls.Add(1)
	g.entered <- struct{}{}
	if err := <-g.release; err != nil {
		return nil, err
	}
	return &event.Result{Status: 200}, nil
}

func TestBreakerHalfOpenLetsExactlyOneProbeThrough(t *testing.T) {
	const cooldown = 10 * time.Second
	gate := newBreakerGate()
	b, clock := newTestBreaker(gate, 1, cooldown)

	// Trip it: one failure is enough with failures = 1.
	go func() { <-gate.entered; gate.release <- ErrCrashed }()
	if _, err := invokeOne(context.Background(), b, &event.Event{}); !errors.Is(err, ErrCrashed) {
		t.Fatalf("tripping call: %v", err)
	}
	clock.advance(cooldown)

	// Many callers arrive at once after the cooldown; exactly one may reach the function.
	const callers = 50
	results := make(chan error, callers)
	for range callers {
		go func() {
			_, err := invokeOne(context.Background(), b, &event.Event{})
			results <- err
		}()
	}
	deadline := time.After(breakerWait)
	for range callers - 1 {
		select {
		case err := <-results:
			if !errors.Is(err, ErrCircuitOpen) {
				t.Fatalf("a caller besides the probe got %v, want ErrCircuitOpen", err)
			}
		case <-deadline:
			t.Fatalf("callers other than the probe did not fail fast")
		}
	}
	select {
	case <-gate.entered:
	case <-deadline:
		t.Fatal("the probe did not reach the function")
	}
	if n := gate.calls.Load(); n != 2 {
		t.Fatalf("function called %d times, want 2 (the tripping call and one probe)", n)
	}
	if got := b.State(); got != BreakerHalfOpen {
		t.Errorf("State() = %q while the probe is in flight, want half-open", got)
	}

	gate.release <- nil
	select {
	case err := <-results:
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
	case <-time.After(breakerWait):
		t.Fatal("the probe did not return")
	}
	if got := b.State(); got != BreakerClosed {
		t.Fatalf("State() = %q after the probe succeeded, want closed", got)
	}

	// Closed again: calls go through.
	go func() { <-gate.entered; gate.release <- nil }()
	if _, err := invokeOne(context.Background(), b, &event.Event{}); err != nil {
		t.Fatalf("call after closing: %v", err)
	}
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	const cooldown = 10 * time.Second
	next := &breakerScript{}
	b, clock := newTestBreaker(next, 3, cooldown)
	tripBreaker(t, b, next)

	clock.advance(cooldown)
	next.set(event.Errorf(500, "still broken"))
	if _, err := invokeOne(context.Background(), b, &event.Event{}); err == nil || errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("probe: err = %v, want the function's error", err)
	}
	// One failed probe is enough, whatever `failures` is, and the cooldown starts over.
	if got := b.State(); got != BreakerOpen {
		t.Fatalf("State() = %q after a failed probe, want open", got)
	}
	calls := next.count()
	_, err := invokeOne(context.Background(), b, &event.Event{})
	wantCircuitOpen(t, err, cooldown)
	if next.count() != calls {
		t.Fatal("the breaker called the function while open after a failed probe")
	}

	clock.advance(cooldown)
	next.set(nil)
	if _, err := invokeOne(context.Background(), b, &event.Event{}); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if got := b.State(); got != BreakerClosed {
		t.Fatalf("State() = %q after a successful probe, want closed", got)
	}
	// Closed with a fresh count: it takes `failures` failures again to open.
	next.set(ErrCrashed)
	for range 2 {
		invokeOne(context.Background(), b, &event.Event{})
	}
	if got := b.State(); got != BreakerClosed {
		t.Fatalf("State() = %q after 2 of 3 failures, want closed", got)
	}
}

func TestBreakerProbeFailureReopensAfterLateSuccess(t *testing.T) {
	// A slow call admitted while closed succeeds after the breaker opened: it resets the count
	// of failures, yet a failed probe must still re-open the breaker.
	const cooldown = 10 * time.Second
	slowEntered, slowRelease := make(chan struct{}), make(chan struct{})
	var fail atomic.Bool
	next := eachEvent(func(_ context.Context, ev *event.Event) (*event.Result, error) {
		if ev.ID == "slow" {
			close(slowEntered)
			<-slowRelease
			return &event.Result{}, nil
		}
		if fail.Load() {
			return nil, ErrCrashed
		}
		return &event.Result{}, nil
	})
	b, clock := newTestBreaker(next, 3, cooldown)

	slowDone := make(chan error, 1)
	go func() {
		_, err := invokeOne(context.Background(), b, &event.Event{ID: "slow"})
		slowDone <- err
	}()
	select {
	case <-slowEntered:
	case <-time.After(breakerWait):
		t.Fatal("the slow call did not start")
	}
	fail.Store(true)
	for range 3 {
		invokeOne(context.Background(), b, &event.Event{})
	}
	if got := b.State(); got != BreakerOpen {
		t.Fatalf("State() = %q, want open", got)
	}
	close(slowRelease)
	select {
	case err := <-slowDone:
		if err != nil {
			t.Fatalf("slow call: %v", err)
		}
	case <-time.After(breakerWait):
		t.Fatal("the slow call did not return")
	}
	if got := b.State(); got != BreakerOpen {
		t.Fatalf("State() = %q after a late success, want still open", got)
	}

	clock.advance(cooldown)
	if _, err := invokeOne(context.Background(), b, &event.Event{}); !errors.Is(err, ErrCrashed) {
		t.Fatalf("probe: err = %v, want ErrCrashed", err)
	}
	if got := b.State(); got != BreakerOpen {
		t.Fatalf("State() = %q after a failed probe, want open", got)
	}
}

func TestBreakerShedProbeFreesTheProbeSlot(t *testing.T) {
	const cooldown = 10 * time.Second
	next := &breakerScript{}
	b, clock := newTestBreaker(next, 1, cooldown)
	tripBreaker(t, b, next)
	clock.advance(cooldown)

	// The probe was shed below the breaker (the limit was full): it says nothing about the
	// function, so the breaker stays half-open and lets the next call probe.
	next.set(ErrOverloaded)
	if _, err := invokeOne(context.Background(), b, &event.Event{}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("probe: err = %v, want ErrOverloaded", err)
	}
	if got := b.State(); got != BreakerHalfOpen {
		t.Fatalf("State() = %q after a shed probe, want half-open", got)
	}
	next.set(nil)
	if _, err := invokeOne(context.Background(), b, &event.Event{}); err != nil {
		t.Fatalf("second probe: err = %v, want it let through", err)
	}
	if got := b.State(); got != BreakerClosed {
		t.Fatalf("State() = %q, want closed", got)
	}
}

func TestBreakerPassesResultThrough(t *testing.T) {
	want := &event.Result{Status: 201, Body: []byte("made")}
	b, _ := newTestBreaker(eachEvent(func(context.Context, *event.Event) (*event.Result, error) {
		return want, nil
	}), 3, time.Second)
	got, err := invokeOne(context.Background(), b, &event.Event{})
	if err != nil || got != want {
		t.Fatalf("Invoke = %v, %v; want the function's result", got, err)
	}
}

func TestBreakerIgnoresCallerCancel(t *testing.T) {
	next := &breakerScript{err: context.Canceled}
	b, _ := newTestBreaker(next, 3, time.Minute)
	for range 5 {
		invokeOne(context.Background(), b, &event.Event{})
	}
	if got := b.State(); got != BreakerClosed {
		t.Fatalf("State() = %q after callers gave up, want closed", got)
	}
}

// The breaker counts each outcome of a batch, and an open breaker fails a whole batch.
func TestBreakerBatchCountsEachOutcome(t *testing.T) {
	failing := eachEvent(func(context.Context, *event.Event) (*event.Result, error) {
		return nil, &FunctionError{Detail: "boom"}
	})
	b := withBreaker(failing, 3, time.Hour)
	out := make([]outcome, 3)
	b.invoke(context.Background(), batchOf(3), out)
	if s := b.State(); s != BreakerOpen {
		t.Fatalf("breaker %s after a batch of 3 failures with a threshold of 3, want open", s)
	}
	b.invoke(context.Background(), batchOf(2), out[:2])
	for k, o := range out[:2] {
		if !errors.Is(o.err, ErrCircuitOpen) {
			t.Errorf("event %d: %v, want ErrCircuitOpen", k, o.err)
		}
	}
}
