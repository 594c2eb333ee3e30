package amqp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/triggers"
)

var _ triggers.Delayer = (*Queues)(nil)

// The delay ladder; see the package comment. Its names, TTLs and bindings are part of the
// wire contract between edgefn nodes, as the retry buckets are.
const (
	// delayLevels is the number of rungs: TTLs of 1s, 2s, 4s ... 2^(delayLevels-1) s. Every
	// TTL stays below 2^32 ms, the bound older RabbitMQ versions put on a TTL.
	delayLevels = 22
	// maxDelay is the longest delay the ladder holds: every rung once.
	maxDelay = (1<<delayLevels - 1) * time.Second
	// dueQueue receives delayed messages from the last rung; every node's forwarder
	// consumes it and publishes what is due to its target queue.
	dueQueue = "edgefn.delay.due"
	// tombstonePrefix names the queue that marks one cancelled message.
	tombstonePrefix = "edgefn.delay.cancelled."
)

// Headers of a delayed message on its way through the ladder, removed before it reaches
// its queue.
const (
	headerDelayQueue = "x-edgefn-delay-queue" // the target queue
	headerDelayDue   = "x-edgefn-delay-due"   // when it is due, Unix milliseconds
)

// rung is the name of the topic exchange and of the queue of ladder level l (TTL 2^l s).
func rung(l int) string { return "edgefn.delay." + strconv.Itoa(1<<l) + "s" }

// delayKey is the routing key of a message that spends secs seconds in the ladder: one word
// per level, highest first, "1" where the message waits in that level's queue.
func delayKey(secs int64) string {
	var b strings.Builder
	for l := delayLevels - 1; l >= 0; l-- {
		if secs&(1<<l) != 0 {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
		if l > 0 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// levelPattern is the binding key that matches the routing keys whose word for level l is
// bit, every other word being anything.
func levelPattern(l int, bit byte) string {
	words := make([]string, delayLevels)
	for i := range words {
		words[i] = "*"
	}
	words[delayLevels-1-l] = string(bit)
	return strings.Join(words, ".")
}

// rungSpec is the queue of ladder level l: its messages expire after 2^l s and then go on
// through the exchange of the level below, or to dueQueue from the last rung.
func rungSpec(l int) *queueSpec {
	args := amqp091.Table{"x-message-ttl": (int64(1) << l) * 1000}
	if l == 0 {
		args["x-dead-letter-exchange"] = ""
		args["x-dead-letter-routing-key"] = dueQueue
	} else {
		// No routing key: the message keeps its own, which says where it waits next.
		args["x-dead-letter-exchange"] = rung(l - 1)
	}
	return &queueSpec{name: rung(l), args: args}
}

// tombstone is the queue whose existence says that the delayed message id to queue is
// cancelled: a name of fixed length whatever the queue and ID.
func tombstone(queue, id string) string {
	sum := sha256.Sum256([]byte(queue + "\x00" + id))
	return tombstonePrefix + hex.EncodeToString(sum[:20])
}

// tombstoneExpiry is how long an unused tombstone lives: longer than any delay, so that it
// outlives the message it cancels.
const tombstoneExpiry = maxDelay + time.Minute

// ladder remembers whether this process declared the ladder on the current publishing
// connection.
type ladder struct{ declared atomic.Bool }

// MaxDelay returns the longest delay PublishDelayed accepts, 2^22-1 seconds (about 48.5
// days).
func (q *Queues) MaxDelay() time.Duration { return maxDelay }

// PublishDelayed publishes msgs to queue after delay through the delay ladder (see the
// package comment): persistent and confirmed, so a delayed message survives a restart of
// the broker and of every edgefn node. The message reaches queue when a forwarder (every
// Queues runs one) takes it off dueQueue, no sooner than its delay.
func (q *Queues) PublishDelayed(ctx context.Context, queue string, delay time.Duration, msgs ...*triggers.Message) error {
	if delay <= 0 {
		return q.PublishQueue(ctx, queue, msgs...)
	}
	if delay > maxDelay {
		return fmt.Errorf("amqp publish to %q after %v: %w (%v)", queue, delay, triggers.ErrDelayTooLong, maxDelay)
	}
	if queue == "" {
		return errors.New("amqp publish: no queue name")
	}
	if len(msgs) == 0 {
		return nil
	}
	// The target must exist when the message is due; declaring it now also reports a
	// queue the broker refuses before the message waits for nothing.
	if err := q.declare(ctx, targetSpec(queue)); err != nil {
		return fmt.Errorf("amqp publish to %q: %w", queue, err)
	}
	if err := q.declareLadder(ctx); err != nil {
		return fmt.Errorf("amqp publish to %q after %v: %w", queue, delay, err)
	}
	now := time.Now()
	due := now.Add(delay)
	// Whole seconds go through the ladder; the forwarder waits out the rest.
	secs := int64(delay / time.Second)
	pubs := make([]amqp091.Publishing, len(msgs))
	for i, m := range msgs {
		fill(m)
		p := toPublishing(m)
		p.Headers[headerDelayQueue] = queue
		p.Headers[headerDelayDue] = due.UnixMilli()
		pubs[i] = p
	}
	returned, err := q.pub.publish(ctx, rung(delayLevels-1), delayKey(secs), true, pubs)
	if err == nil && len(returned) > 0 {
		// The broker lost the ladder (a reset): declare it again, once.
		q.ladder.declared.Store(false)
		if err = q.declareLadder(ctx); err == nil {
			returned, err = q.pub.publish(ctx, rung(delayLevels-1), delayKey(secs), true, returned)
		}
		if err == nil && len(returned) > 0 {
			err = fmt.Errorf("%d of %d messages: %w", len(returned), len(pubs), errUnroutable)
		}
	}
	if err != nil {
		return fmt.Errorf("amqp publish to %q after %v: %w", queue, delay, err)
	}
	return nil
}

// CancelDelayed marks the delayed message id to queue as cancelled with a tombstone, a
// durable queue of its own that the forwarder looks for before it publishes a due message;
// it deletes the tombstone when it drops the message. A tombstone that matches no message
// (it was delivered already) expires unused after the longest delay.
func (q *Queues) CancelDelayed(ctx context.Context, queue, id string) error {
	if queue == "" || id == "" {
		return errors.New("amqp cancel: a queue and an ID are needed")
	}
	name := tombstone(queue, id)
	err := q.withChannel(ctx, q.pubLink, func(ch *amqp091.Channel) error {
		return declareOn(ch, &queueSpec{name: name, args: amqp091.Table{"x-expires": tombstoneExpiry.Milliseconds()}})
	})
	if err != nil {
		return fmt.Errorf("amqp cancel %q on %q: %w", id, queue, err)
	}
	return nil
}

// cancelled reports whether the delayed message id to queue is cancelled, and if so
// deletes its tombstone.
func (q *Queues) cancelled(ctx context.Context, queue, id string) (bool, error) {
	name := tombstone(queue, id)
	found := false
	err := q.withChannel(ctx, q.pubLink, func(ch *amqp091.Channel) error {
		if _, err := ch.QueueDeclarePassive(name, true, false, false, false, nil); err != nil {
			if isCode(err, amqp091.NotFound) {
				return nil
			}
			return err
		}
		found = true
		_, err := ch.QueueDelete(name, false, false, false)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("check whether %q to %q is cancelled: %w", id, queue, err)
	}
	return found, nil
}

// declareLadder declares the ladder's exchanges, queues and bindings and dueQueue, once per
// publishing connection. Declarations are idempotent, so nodes that do it together agree.
func (q *Queues) declareLadder(ctx context.Context) error {
	if q.ladder.declared.Load() {
		return nil
	}
	err := q.withChannel(ctx, q.pubLink, func(ch *amqp091.Channel) error {
		if err := declareOn(ch, plainSpec(dueQueue)); err != nil {
			return err
		}
		for l := range delayLevels {
			if err := ch.ExchangeDeclare(rung(l), amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
				return fmt.Errorf("declare exchange %q: %w", rung(l), err)
			}
			if err := declareOn(ch, rungSpec(l)); err != nil {
				return err
			}
			if err := ch.QueueBind(rung(l), levelPattern(l, '1'), rung(l), false, nil); err != nil {
				return fmt.Errorf("bind queue %q: %w", rung(l), err)
			}
			var err error
			if l == 0 {
				err = ch.QueueBind(dueQueue, levelPattern(l, '0'), rung(l), false, nil)
			} else {
				err = ch.ExchangeBind(rung(l-1), levelPattern(l, '0'), rung(l), false, nil)
			}
			if err != nil {
				return fmt.Errorf("bind the level below %q: %w", rung(l), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("declare the delay ladder: %w", err)
	}
	q.ladder.declared.Store(true)
	return nil
}
