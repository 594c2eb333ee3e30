package runtime

import (
	"context"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// limiter bounds the invocations in flight across a version's instances, one slot per event.
// An event over the limit waits up to wait for a slot, then fails with ErrOverloaded (503
// with Retry-After).
type limiter struct {
	next  stage
	slots chan struct{}
	wait  time.Duration
}

// withLimit returns next behind a limit of concurrency events in flight, each waiting up to
// wait for its slot.
func withLimit(next stage, concurrency int, wait time.Duration) *limiter {
	return &limiter{next: next, slots: make(chan struct{}, concurrency), wait: wait}
}

// invoke takes a slot per event. When fewer are free than the batch needs, it runs the part
// it has slots for and waits for more for the rest, up to the limiter's wait from the first
// wait; what finds no slot by then, or once ctx is done, fails with ErrOverloaded. A batch of
// one that finds a free slot makes no timer.
func (l *limiter) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for start := 0; start < len(evs); {
		n := l.take(ctx, len(evs)-start, &t)
		if n == 0 {
			fillOutcomes(out[start:], nil, ErrOverloaded)
			return
		}
		l.run(ctx, evs[start:start+n], out[start:start+n])
		start += n
	}
}

// take takes up to want slots: those free now, or else the first to come free before *t
// fires (made on the first wait) or ctx ends. It returns how many it took, 0 when none.
func (l *limiter) take(ctx context.Context, want int, t **time.Timer) int {
	n := 0
	for n < want {
		select {
		case l.slots <- struct{}{}:
			n++
			continue
		default:
		}
		if n > 0 {
			return n
		}
		if *t == nil {
			*t = time.NewTimer(l.wait)
		}
		select {
		case l.slots <- struct{}{}:
			n++
		case <-(*t).C:
			return 0
		case <-ctx.Done():
			return 0
		}
	}
	return n
}

// run runs evs, which hold a slot each, and frees their slots however next returns.
func (l *limiter) run(ctx context.Context, evs []*event.Event, out []outcome) {
	defer func() {
		for range evs {
			<-l.slots
		}
	}()
	l.next.invoke(ctx, evs, out)
}

// inflight is how many invocations hold a slot.
func (l *limiter) inflight() int { return len(l.slots) }

var _ stage = (*limiter)(nil)
