package memory

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

var _ triggers.Source = (*queueSource)(nil)

// queueSource is one consumer of a queue. It holds at most prefetch unsettled deliveries;
// closing it puts them back at the front of the queue.
//
// Locks: DeadLetter holds two queues' locks, taken in name order (lockPair); every other
// method holds one. No method holds the broker's lock and a queue's together.
type queueSource struct {
	b        *Broker
	q        *queue
	dlq      string
	prefetch int
	closedCh chan struct{} // closed by Close, after closed is set

	// Guarded by q.mu.
	closed bool
	held   map[*qmsg]struct{}
}

// queueToken is Delivery.Token of a queue delivery: which message, and which delivery of it,
// so that settling a stale delivery cannot settle the current one.
type queueToken struct {
	m       *qmsg
	attempt int
}

// Receive returns up to n ready messages, no more than the prefetch allows, blocking until
// there is at least one. An n below 1 counts as 1.
func (s *queueSource) Receive(ctx context.Context, n int) ([]*triggers.Delivery, error) {
	n = min(max(n, 1), s.prefetch)
	for {
		if err := s.b.checkReceive(ctx, s.closedCh); err != nil {
			return nil, err
		}
		q := s.q
		q.mu.Lock()
		if s.closed {
			q.mu.Unlock()
			return nil, triggers.ErrClosed
		}
		now := time.Now()
		q.promoteDue(now)
		if ds := s.take(n); len(ds) > 0 {
			q.mu.Unlock()
			return ds, nil
		}
		var due time.Time // wake for a retry only when there is room to take it
		if len(s.held) < s.prefetch {
			due = q.nextDue()
		}
		changed := q.changed.wait()
		q.mu.Unlock()
		if err := s.b.block(ctx, s.closedCh, changed, due); err != nil {
			return nil, err
		}
	}
}

// take delivers up to n ready messages within the prefetch; q.mu is held.
func (s *queueSource) take(n int) []*triggers.Delivery {
	n = min(n, s.prefetch-len(s.held), s.q.ready)
	if n <= 0 {
		return nil
	}
	ds := make([]*triggers.Delivery, n)
	for i := range ds {
		m := s.q.popReady()
		m.attempts++
		s.held[m] = struct{}{}
		ds[i] = &triggers.Delivery{
			Message: copyMessage(&m.msg),
			Attempt: m.attempts,
			Token:   &queueToken{m: m, attempt: m.attempts},
		}
	}
	return ds
}

// Ack settles ds as done. Every delivery this consumer holds is settled even when another
// is refused; the error joins the refusals.
func (s *queueSource) Ack(ctx context.Context, ds ...*triggers.Delivery) error {
	q := s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	full := len(s.held) >= s.prefetch
	var errs []error
	for _, d := range ds {
		m, err := s.held1(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.held, m)
		q.size--
	}
	if full && len(s.held) < s.prefetch {
		q.changed.broadcast() // a Receive of this consumer may wait for room
	}
	return errors.Join(errs...)
}

// Retry settles d and makes its message ready again after delay, behind the messages that
// are ready then.
func (s *queueSource) Retry(ctx context.Context, d *triggers.Delivery, delay time.Duration) error {
	q := s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	m, err := s.held1(d)
	if err != nil {
		return err
	}
	delete(s.held, m)
	now := time.Now()
	q.promoteDue(now)
	if delay <= 0 {
		q.pushReady(m)
	} else {
		m.due = now.Add(delay)
		heap.Push(&q.delayed, m)
	}
	q.changed.broadcast() // new ready message, earlier wake-up, or room for this consumer
	return nil
}

// DeadLetter settles d by moving its message to the dead-letter queue with the reason and
// the attempts in its headers. When the dead-letter queue is full, d stays unsettled and
// the error wraps ErrFull.
func (s *queueSource) DeadLetter(ctx context.Context, d *triggers.Delivery, reason string) error {
	dq, err := s.b.queue(s.dlq, true)
	if err != nil {
		return fmt.Errorf("memory: dead-letter to queue %q: %w", s.dlq, err)
	}
	q := s.q
	unlock := lockPair(q.name, &q.mu, dq.name, &dq.mu)
	defer unlock()
	if err := s.usable(); err != nil {
		return err
	}
	m, err := s.held1(d)
	if err != nil {
		return err
	}
	if err := dq.room(1); err != nil {
		return fmt.Errorf("memory: dead-letter %q: %w", m.msg.ID, err)
	}
	delete(s.held, m)
	q.size--
	dq.add(deadLettered(&m.msg, reason, m.attempts))
	dq.changed.broadcast()
	q.changed.broadcast()
	return nil
}

// Close puts the unsettled deliveries back at the front of the queue, where they are
// delivered again with their attempt one higher. It is idempotent.
func (s *queueSource) Close() error {
	q := s.q
	q.mu.Lock()
	if s.closed {
		q.mu.Unlock()
		return nil
	}
	s.closed = true
	back := make([]*qmsg, 0, len(s.held))
	for m := range s.held {
		back = append(back, m)
	}
	s.held = nil
	q.requeue(back)
	q.mu.Unlock()
	close(s.closedCh)
	return nil
}

// usable refuses settlements on a closed consumer, whose deliveries went back to the queue;
// q.mu is held.
func (s *queueSource) usable() error {
	if s.closed || s.b.isClosed() {
		return fmt.Errorf("memory: queue %q: %w", s.q.name, triggers.ErrClosed)
	}
	return nil
}

// held1 returns the message of d if d is a delivery this consumer holds; q.mu is held.
func (s *queueSource) held1(d *triggers.Delivery) (*qmsg, error) {
	t, ok := d.Token.(*queueToken)
	if !ok {
		return nil, fmt.Errorf("memory: queue %q: delivery %q is not one of its deliveries", s.q.name, d.ID)
	}
	if _, ok := s.held[t.m]; !ok || t.attempt != t.m.attempts {
		return nil, fmt.Errorf("memory: queue %q: delivery %q (attempt %d): %w", s.q.name, d.ID, t.attempt, ErrNotHeld)
	}
	return t.m, nil
}

// Lag is how many messages of the queue wait for a consumer: ready or waiting out a retry
// (delayed messages not due yet do not count).
func (s *queueSource) Lag(context.Context) (int64, error) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return int64(s.q.ready + len(s.q.delayed) - s.q.scheduled), nil
}
