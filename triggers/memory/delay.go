package memory

import (
	"container/heap"
	"context"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/triggers"
)

var _ triggers.Delayer = (*Broker)(nil)

// MaxDelay is the longest delay the embedded backend holds, the same as RabbitMQ's
// (docs/events.md), so that a function behaves alike on both.
const MaxDelay = (1<<22 - 1) * time.Second

// MaxDelay returns the longest delay PublishDelayed accepts.
func (b *Broker) MaxDelay() time.Duration { return MaxDelay }

// PublishDelayed adds copies of msgs to the queue, creating it when missing, to become ready
// after delay; all or none, as PublishQueue. Until then they count towards
// Options.MaxQueueLength but not towards the queue's lag. They live in memory: a restart
// loses them.
func (b *Broker) PublishDelayed(ctx context.Context, name string, delay time.Duration, msgs ...*triggers.Message) error {
	if delay <= 0 {
		return b.PublishQueue(ctx, name, msgs...)
	}
	if delay > MaxDelay {
		return fmt.Errorf("memory: publish to queue %q after %v: %w (%v)", name, delay, triggers.ErrDelayTooLong, MaxDelay)
	}
	if err := checkPublish(ctx, name, msgs); err != nil {
		return fmt.Errorf("memory: publish to queue %q: %w", name, err)
	}
	q, err := b.queue(name, true)
	if err != nil {
		return fmt.Errorf("memory: publish to queue %q: %w", name, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.room(len(msgs)); err != nil {
		return fmt.Errorf("memory: publish: %w", err)
	}
	now := time.Now()
	for _, m := range msgs {
		c := copyMessage(m)
		if c.ID == "" {
			c.ID = id.New()
		}
		if c.Time.IsZero() {
			c.Time = now
		}
		q.seq++
		heap.Push(&q.delayed, &qmsg{msg: c, seq: q.seq, due: now.Add(delay), scheduled: true})
		q.size++
		q.scheduled++
	}
	// A blocked Receive sleeps until the soonest due message it knew of: wake it to look again.
	q.changed.broadcast()
	return nil
}

// CancelDelayed removes every message of the queue with the ID id that PublishDelayed
// holds and that is not due yet.
func (b *Broker) CancelDelayed(ctx context.Context, name, msgID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: cancel %q on queue %q: %w", msgID, name, err)
	}
	q, err := b.queue(name, false)
	if err != nil {
		return fmt.Errorf("memory: cancel %q on queue %q: %w", msgID, name, err)
	}
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.promoteDue(time.Now())
	for i := 0; i < len(q.delayed); {
		if m := q.delayed[i]; m.scheduled && m.msg.ID == msgID {
			heap.Remove(&q.delayed, i)
			q.size--
			q.scheduled--
			continue // i now holds another message
		}
		i++
	}
	return nil
}
