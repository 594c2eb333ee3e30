package runtime

import (
	"context"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
)

// limiter bounds the invocations in flight across a version's instances. A call over the
// limit waits up to wait for a slot, then fails with ErrOverloaded (503 with Retry-After).
type limiter struct {
	next  Invoker
	slots chan struct{}
	wait  time.Duration
}

func withLimit(next Invoker, concurrency int, wait time.Duration) *limiter {
	return &limiter{next: next, slots: make(chan struct{}, concurrency), wait: wait}
}

func (l *limiter) Invoke(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		t := time.NewTimer(l.wait)
		select {
		case l.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, ErrOverloaded
		case <-ctx.Done():
			t.Stop()
			return nil, ErrOverloaded
		}
	}
	defer func() { <-l.slots }()
	return l.next.Invoke(ctx, ev)
}

// inflight is how many invocations hold a slot.
func (l *limiter) inflight() int { return len(l.slots) }
