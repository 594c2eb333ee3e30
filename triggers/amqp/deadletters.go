package amqp

import (
	"context"
	"fmt"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/triggers"
)

// The dead-letter operations work on a temporary channel of the consuming connection and
// take messages with basic.get without acknowledging them: each get returns the next
// message, and closing the channel returns every message not acknowledged to the queue, at
// its original position. (Rejecting with requeue one by one would not do: the next get
// would return the same message again.) While an operation holds messages, other readers
// of the queue do not see them: two ListDead at once may each see part of the queue, and
// a message listed once comes back marked redelivered. A dead-letter queue that does not
// exist holds nothing: ListDead, Redrive and Purge return nothing, and no error.

// ListDead returns up to limit messages of the dead-letter queue name, oldest first,
// without removing them.
func (q *Queues) ListDead(ctx context.Context, name string, limit int) ([]triggers.DeadMessage, error) {
	var out []triggers.DeadMessage
	if limit <= 0 {
		return nil, nil
	}
	err := q.withChannel(ctx, q.subLink, func(ch *amqp091.Channel) error {
		ds, err := getUpTo(ch, name, limit)
		for i := range ds {
			out = append(out, deadMessage(&ds[i]))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("amqp list dead letters of %q: %w", name, err)
	}
	return out, nil
}

// Redrive moves up to limit messages of the dead-letter queue name to target, where they
// start again at attempt 1: the error, attempts and attempt headers are dropped, the rest
// is kept. Each batch is confirmed by the broker before it is acknowledged in name; a
// failure in between leaves a batch in both queues (at least once).
func (q *Queues) Redrive(ctx context.Context, name, target string, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	to := targetSpec(target)
	if err := q.declare(ctx, to); err != nil {
		return 0, fmt.Errorf("amqp redrive %q to %q: %w", name, target, err)
	}
	moved := 0
	err := q.withChannel(ctx, q.subLink, func(ch *amqp091.Channel) error {
		for moved < limit {
			ds, err := getUpTo(ch, name, min(limit-moved, confirmBatch))
			if err != nil || len(ds) == 0 {
				return err
			}
			pubs := make([]amqp091.Publishing, len(ds))
			for i := range ds {
				pubs[i] = republishing(&ds[i])
				delete(pubs[i].Headers, headerError)
				delete(pubs[i].Headers, headerAttempts)
				delete(pubs[i].Headers, headerAttempt)
			}
			if err := q.publish(ctx, to, pubs); err != nil {
				return err
			}
			if err := ch.Ack(ds[len(ds)-1].DeliveryTag, true); err != nil {
				return fmt.Errorf("ack: %w (the %d messages just re-driven stay here too)", err, len(ds))
			}
			moved += len(ds)
		}
		return nil
	})
	if err != nil {
		return moved, fmt.Errorf("amqp redrive %q to %q: %d moved: %w", name, target, moved, err)
	}
	return moved, nil
}

// Purge deletes every message of the dead-letter queue name and returns how many.
func (q *Queues) Purge(ctx context.Context, name string) (int, error) {
	n := 0
	err := q.withChannel(ctx, q.subLink, func(ch *amqp091.Channel) error {
		var err error
		n, err = ch.QueuePurge(name, false)
		if isCode(err, amqp091.NotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("amqp purge %q: %w", name, err)
	}
	return n, nil
}

// getUpTo gets up to n messages of queue without acknowledging them; a missing queue has
// none.
func getUpTo(ch *amqp091.Channel, queue string, n int) ([]amqp091.Delivery, error) {
	var out []amqp091.Delivery
	for len(out) < n {
		d, ok, err := ch.Get(queue, false)
		if isCode(err, amqp091.NotFound) {
			return nil, nil
		}
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		out = append(out, d)
	}
	return out, nil
}
