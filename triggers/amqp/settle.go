package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/triggers"
)

// A delivery is settled once, by Ack, Retry or DeadLetter, on the channel it came on. A
// second acknowledgement of the same tag would make the broker close that channel, and
// with it return every other unsettled delivery of the consumer: claim refuses it first.

// token is a Delivery's handle: the channel it came on, its tag there, and the original
// message for Retry and DeadLetter.
type token struct {
	src     *source
	ch      *amqp091.Channel
	acks    *ledger
	tag     uint64
	raw     amqp091.Delivery
	settled atomic.Bool
}

// claim marks d settled, once.
func (s *source) claim(d *triggers.Delivery) (*token, error) {
	t, ok := d.Token.(*token)
	if !ok || t.src != s {
		return nil, fmt.Errorf("amqp source %q: delivery %q is not from this source", s.opts.Queue, d.ID)
	}
	if !t.settled.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("amqp source %q: delivery %q already settled", s.opts.Queue, d.ID)
	}
	return t, nil
}

// claimLive claims d for a settlement that publishes a copy first: pointless when d can no
// longer be acknowledged, since the broker redelivers it anyway.
func (s *source) claimLive(d *triggers.Delivery) (*token, error) {
	t, err := s.claim(d)
	if err == nil && t.ch.IsClosed() {
		err = fmt.Errorf("amqp source %q: delivery %q: %w (its channel is gone; the broker redelivers it)",
			s.opts.Queue, d.ID, amqp091.ErrClosed)
	}
	return t, err
}

func (s *source) ack(t *token, id string) error {
	if err := t.acks.ackOne(t.tag); err != nil {
		return fmt.Errorf("amqp source %q: ack %q: %w (its channel is gone; the broker redelivers it)",
			s.opts.Queue, id, err)
	}
	return nil
}

// Ack settles ds as done. Deliveries that complete, with every earlier one of their channel
// already settled, a run from the oldest unsettled are acknowledged by one multiple ack;
// the others wait a little for the run to reach them (see ledger). A delivery whose channel died with a connection cannot be
// acknowledged: the error says so and the broker redelivers it.
func (s *source) Ack(ctx context.Context, ds ...*triggers.Delivery) error {
	var errs []error
	byChannel := map[*ledger][]uint64{}
	for _, d := range ds {
		t, err := s.claim(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		byChannel[t.acks] = append(byChannel[t.acks], t.tag)
	}
	for l, tags := range byChannel {
		if err := l.ack(tags); err != nil {
			errs = append(errs, fmt.Errorf("amqp source %q: ack of %d deliveries: %w (their channel is gone; the broker redelivers them)",
				s.opts.Queue, len(tags), err))
		}
	}
	return errors.Join(errs...)
}

// ledger tracks which deliveries of one channel are settled, so that Ack can settle a run of
// them with one frame. The broker numbers a channel's deliveries 1, 2, 3...; every tag up to
// floor is settled, and done holds the settled tags above it. A multiple ack of tag N settles
// every delivery up to N that is still outstanding, so it is sent only when all of those are
// settled here and N itself is outstanding. A settled delivery above the floor (an earlier one
// is still being handled) waits up to ackDefer for the floor to reach it, so that one multiple
// ack takes it too; after that it is acknowledged alone, so that a slow message does not hold
// the others' acknowledgements, and with them the prefetch window.
type ledger struct {
	ch *amqp091.Channel

	mu       sync.Mutex
	floor    uint64
	done     map[uint64]struct{}
	deferred []uint64    // settled above the floor, not yet acknowledged
	timer    *time.Timer // acknowledges deferred ones alone when it fires
}

// ackDefer is how long a settled delivery may wait for the ones before it to settle.
const ackDefer = 10 * time.Millisecond

// settle records tags as settled and returns the new floor. Called with l.mu held.
func (l *ledger) settle(tags ...uint64) uint64 {
	for _, tag := range tags {
		if tag > l.floor {
			l.done[tag] = struct{}{}
		}
	}
	for {
		if _, ok := l.done[l.floor+1]; !ok {
			return l.floor
		}
		delete(l.done, l.floor+1)
		l.floor++
	}
}

// ackOne acknowledges a single delivery.
func (l *ledger) ackOne(tag uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settle(tag)
	return l.ch.Ack(tag, false)
}

// ack acknowledges tags, with the deferred ones the floor has reached meanwhile, by one
// multiple ack of the highest at or below the new floor; the rest wait (see ledger).
func (l *ledger) ack(tags []uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	floor := l.settle(tags...)
	var top uint64
	var rest []uint64
	for _, group := range [][]uint64{l.deferred, tags} {
		for _, tag := range group {
			if tag <= floor {
				top = max(top, tag)
			} else {
				rest = append(rest, tag)
			}
		}
	}
	l.deferred = rest
	if len(rest) > 0 && l.timer == nil {
		l.timer = time.AfterFunc(ackDefer, l.expire)
	}
	if top == 0 {
		return nil
	}
	return l.ch.Ack(top, true)
}

// expire acknowledges, one by one, the deliveries that waited ackDefer.
func (l *ledger) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	l.ackDeferred()
}

// flush acknowledges what waits now: before the channel closes, which would return it.
func (l *ledger) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	return l.ackDeferred()
}

// ackDeferred acknowledges the deferred deliveries alone. Called with l.mu held.
func (l *ledger) ackDeferred() error {
	var err error
	for _, tag := range l.deferred {
		if aerr := l.ch.Ack(tag, false); aerr != nil && err == nil {
			err = aerr
		}
	}
	l.deferred = nil
	return err
}

// Retry publishes a copy of d, one attempt further, to the delay queue of the delay's
// bucket (to the queue itself when delay <= 0), waits for the broker's confirm, then
// acknowledges d. When the copy cannot be published d stays unsettled.
func (s *source) Retry(ctx context.Context, d *triggers.Delivery, delay time.Duration) error {
	t, err := s.claimLive(d)
	if err != nil {
		return err
	}
	pub := republishing(&t.raw)
	pub.Headers[headerAttempt] = int32(d.Attempt + 1)
	target := s.main
	if delay > 0 {
		target = delaySpec(s.opts.Queue, retryBucket(delay))
	}
	if err := s.q.publish(ctx, target, []amqp091.Publishing{pub}); err != nil {
		t.settled.Store(false)
		return fmt.Errorf("amqp source %q: retry %q: %w", s.opts.Queue, d.ID, err)
	}
	return s.ack(t, d.ID)
}

// DeadLetter publishes d with its original properties and headers, plus "error" and
// "attempts", to the dead-letter queue, waits for the broker's confirm, then acknowledges d.
func (s *source) DeadLetter(ctx context.Context, d *triggers.Delivery, reason string) error {
	t, err := s.claimLive(d)
	if err != nil {
		return err
	}
	pub := republishing(&t.raw)
	pub.Headers[headerError] = reason
	pub.Headers[headerAttempts] = int32(d.Attempt)
	if err := s.q.publish(ctx, s.dlq, []amqp091.Publishing{pub}); err != nil {
		t.settled.Store(false)
		return fmt.Errorf("amqp source %q: dead-letter %q: %w", s.opts.Queue, d.ID, err)
	}
	return s.ack(t, d.ID)
}
