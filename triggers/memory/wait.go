package memory

import (
	"context"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

// signal wakes every Receive blocked on a queue or stream when its state changes. It is
// guarded by the lock of its owner. The channel is made only when someone waits, and closed
// and forgotten on broadcast, so a busy queue with no waiters allocates nothing.
type signal struct {
	ch chan struct{}
}

// wait returns a channel closed by the next broadcast.
func (s *signal) wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) broadcast() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// block waits until changed is closed, the deadline due passes (zero: no deadline), ctx ends,
// the consumer is closed or the broker is. It returns nil when the caller should look again.
func (b *Broker) block(ctx context.Context, closed, changed <-chan struct{}, due time.Time) error {
	var timeout <-chan time.Time
	if !due.IsZero() {
		t := time.NewTimer(time.Until(due))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-changed:
		return nil
	case <-timeout:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return triggers.ErrClosed
	case <-b.done:
		return triggers.ErrClosed
	}
}

// checkReceive is what every Receive checks first: a canceled ctx wins over available
// deliveries, so that nothing is handed to a caller that has given up.
func (b *Broker) checkReceive(ctx context.Context, closed <-chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-closed:
		return triggers.ErrClosed
	case <-b.done:
		return triggers.ErrClosed
	default:
		return nil
	}
}
