package amqp

import (
	"context"
	"errors"
	"fmt"
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
	if err := t.ch.Ack(t.tag, false); err != nil {
		return fmt.Errorf("amqp source %q: ack %q: %w (its channel is gone; the broker redelivers it)",
			s.opts.Queue, id, err)
	}
	return nil
}

// Ack settles ds as done. A delivery whose channel died with a connection cannot be
// acknowledged: the error says so and the broker redelivers it.
func (s *source) Ack(ctx context.Context, ds ...*triggers.Delivery) error {
	var errs []error
	for _, d := range ds {
		t, err := s.claim(d)
		if err == nil {
			err = s.ack(t, d.ID)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
