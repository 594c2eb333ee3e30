package runtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
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
	next     stage
	failures int
	cooldown time.Duration
	now      func() time.Time

	mu          sync.Mutex
	state       string
	consecutive int
	openedAt    time.Time
	probing     bool
}

// withBreaker returns next behind a circuit breaker that opens after failures consecutive
// failures and lets a probe through after cooldown.
func withBreaker(next stage, failures int, cooldown time.Duration) *breaker {
	return &breaker{next: next, failures: failures, cooldown: cooldown, now: time.Now, state: BreakerClosed}
}

// invoke decides once for the batch: an open breaker fails every event at once, and a
// half-open one lets the batch through as its probe, whose first event is the one that
// counts as the probe. Each outcome is counted.
func (b *breaker) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	probe, err := b.admit()
	if err != nil {
		fillOutcomes(out, nil, err)
		return
	}
	b.next.invoke(ctx, evs, out)
	for k := range out {
		b.record(probe && k == 0, out[k].err)
	}
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

var _ stage = (*breaker)(nil)
