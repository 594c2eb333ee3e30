package runtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
)

// Breaker states, as `edgefn get` shows them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// breaker is a circuit breaker. After `failures` consecutive failures (5xx, crash, timeout) it
// opens: calls fail at once with ErrCircuitOpen. After `cooldown` it lets one probe through
// (half-open); the probe's success closes it, its failure opens it again for another cooldown.
type breaker struct {
	next     Invoker
	failures int
	cooldown time.Duration
	now      func() time.Time

	mu          sync.Mutex
	state       string
	consecutive int
	openedAt    time.Time
	probing     bool
}

func withBreaker(next Invoker, failures int, cooldown time.Duration) *breaker {
	return &breaker{next: next, failures: failures, cooldown: cooldown, now: time.Now, state: BreakerClosed}
}

func (b *breaker) Invoke(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	probe, err := b.admit()
	if err != nil {
		return nil, err
	}
	res, err := b.next.Invoke(ctx, ev)
	b.record(probe, err)
	return res, err
}

// admit decides whether a call may go through, and whether it is the half-open probe.
func (b *breaker) admit() (probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		left := b.cooldown - b.now().Sub(b.openedAt)
		if left > 0 {
			return false, &Error{Status: ErrCircuitOpen.Status, Code: ErrCircuitOpen.Code,
				Message: ErrCircuitOpen.Message, RetryAfter: left}
		}
		b.state = BreakerHalfOpen
		b.probing = false
		fallthrough
	case BreakerHalfOpen:
		if b.probing {
			return false, ErrCircuitOpen
		}
		b.probing = true
		return true, nil
	}
	return false, nil
}

func (b *breaker) record(probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case countsAsFailure(err):
		b.consecutive++
		if probe || b.consecutive >= b.failures {
			b.state = BreakerOpen
			b.openedAt = b.now()
			b.probing = false
		}
	case err != nil && (shed(err) || errors.Is(err, context.Canceled)):
		// Shed before reaching the function, or abandoned by the caller: says nothing
		// about the function's health.
		if probe {
			b.probing = false
		}
	default:
		b.consecutive = 0
		if probe {
			b.state = BreakerClosed
			b.probing = false
		}
	}
}

// State returns the breaker's state.
func (b *breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.now().Sub(b.openedAt) >= b.cooldown {
		return BreakerHalfOpen
	}
	return b.state
}
