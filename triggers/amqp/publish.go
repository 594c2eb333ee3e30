package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/triggers"
)

// confirmBatch is how many messages a publisher sends before it waits for their confirms,
// and so the capacity of a channel's buffer of returned messages.
const confirmBatch = 64

// errUnroutable is the error of a message the broker returned: no queue took it.
var errUnroutable = errors.New("no queue took the message")

// PublishQueue publishes msgs to queue, persistent and confirmed by the broker; see the
// package comment for the wire mapping. It sets the ID and Time of a message that has
// none, in place. While the broker is unreachable it waits for a reconnect, up to ctx.
func (q *Queues) PublishQueue(ctx context.Context, queue string, msgs ...*triggers.Message) error {
	if queue == "" {
		return errors.New("amqp publish: no queue name")
	}
	if len(msgs) == 0 {
		return nil
	}
	pubs := make([]amqp091.Publishing, len(msgs))
	for i, m := range msgs {
		fill(m)
		pubs[i] = toPublishing(m)
	}
	return q.publish(ctx, targetSpec(queue), pubs)
}

// publish publishes pubs with confirms to the queue of spec, declared first unless it was
// already. When the broker returns some (the queue was deleted since), it declares the
// queue again and publishes those once more.
func (q *Queues) publish(ctx context.Context, spec *queueSpec, pubs []amqp091.Publishing) error {
	queue := spec.name
	if err := q.declare(ctx, spec); err != nil {
		return fmt.Errorf("amqp publish to %q: %w", queue, err)
	}
	returned, err := q.pub.publish(ctx, "", queue, true, pubs)
	if err != nil || len(returned) == 0 {
		return err
	}
	q.decls.forget(queue)
	if err := q.declare(ctx, spec); err != nil {
		return fmt.Errorf("amqp publish to %q: %d returned: %w", queue, len(returned), err)
	}
	if returned, err = q.pub.publish(ctx, "", queue, true, returned); err != nil {
		return err
	}
	if len(returned) > 0 {
		return fmt.Errorf("amqp publish to %q: %d of %d messages: %w", queue, len(returned), len(pubs), errUnroutable)
	}
	return nil
}

// publisher lends confirm-mode channels of the publishing connection, one publisher at a
// time each, so that the returns and confirms a channel sees belong to one caller.
type publisher struct {
	q     *Queues
	slots chan struct{} // one per channel in use

	mu   sync.Mutex
	idle []*pubChannel
}

type pubChannel struct {
	conn    *amqp091.Connection
	ch      *amqp091.Channel
	returns chan amqp091.Return
}

func newPublisher(q *Queues) *publisher {
	return &publisher{q: q, slots: make(chan struct{}, q.opts.PublishChannels)}
}

// publish sends pubs to exchange with the routing key queue (the queue's name on the default
// exchange "") on one channel in batches of confirmBatch, waits for the confirms of each
// batch and returns the messages the broker returned as unroutable (only mandatory ones can
// be).
func (p *publisher) publish(ctx context.Context, exchange, queue string, mandatory bool, pubs []amqp091.Publishing) ([]amqp091.Publishing, error) {
	pc, err := p.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("amqp publish to %q: %w", queue, err)
	}
	healthy := false
	defer func() { p.release(pc, healthy) }()
	var returned []amqp091.Publishing
	for len(pubs) > 0 {
		batch := pubs[:min(len(pubs), confirmBatch)]
		pubs = pubs[len(batch):]
		if err := p.publishBatch(ctx, pc, exchange, queue, mandatory, batch); err != nil {
			return nil, fmt.Errorf("amqp publish to %q: %w", queue, err)
		}
		// The broker sends a basic.return before the basic.ack of the same message, and
		// amqp091 hands both over in that order: after the acks, the returns are buffered.
		for drained := false; !drained; {
			select {
			case r, ok := <-pc.returns:
				if !ok {
					drained = true
					break
				}
				returned = append(returned, returnedPublishing(r))
			default:
				drained = true
			}
		}
	}
	healthy = true
	return returned, nil
}

func (p *publisher) publishBatch(ctx context.Context, pc *pubChannel, exchange, queue string, mandatory bool, batch []amqp091.Publishing) error {
	// A write blocks when the broker stops reading (a resource alarm); call bounds it by ctx.
	dcs, err := call(p.q, ctx, func() ([]*amqp091.DeferredConfirmation, error) {
		dcs := make([]*amqp091.DeferredConfirmation, 0, len(batch))
		for _, m := range batch {
			dc, err := pc.ch.PublishWithDeferredConfirm(exchange, queue, mandatory, false, m)
			if err != nil {
				return nil, err
			}
			dcs = append(dcs, dc)
		}
		return dcs, nil
	}, nil)
	if err != nil {
		return err
	}
	for _, dc := range dcs {
		select {
		case <-dc.Done():
		case <-ctx.Done():
			return fmt.Errorf("waiting for the broker's confirm: %w", ctx.Err())
		}
		if !dc.Acked() {
			if pc.ch.IsClosed() {
				return errors.New("channel closed before the broker confirmed the message")
			}
			return errors.New("the broker refused the message (nack)")
		}
	}
	return nil
}

func returnedPublishing(r amqp091.Return) amqp091.Publishing {
	return amqp091.Publishing{
		Headers: r.Headers, ContentType: r.ContentType, ContentEncoding: r.ContentEncoding,
		DeliveryMode: r.DeliveryMode, Priority: r.Priority, CorrelationId: r.CorrelationId,
		ReplyTo: r.ReplyTo, Expiration: r.Expiration, MessageId: r.MessageId,
		Timestamp: r.Timestamp, Type: r.Type, AppId: r.AppId, Body: r.Body,
	}
}

// acquire lends a channel of the current publishing connection, waiting for a free slot
// and for the connection, up to ctx.
func (p *publisher) acquire(ctx context.Context) (*pubChannel, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.q.ctx.Done():
		return nil, ErrClosed
	}
	pc, err := p.take(ctx)
	if err != nil {
		<-p.slots
	}
	return pc, err
}

func (p *publisher) take(ctx context.Context) (*pubChannel, error) {
	conn, err := p.q.pubLink.wait(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		pc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if pc.conn == conn && !pc.ch.IsClosed() {
			p.mu.Unlock()
			return pc, nil
		}
		// A channel of an earlier connection is closed already; nothing to release.
	}
	p.mu.Unlock()
	return call(p.q, ctx, func() (*pubChannel, error) {
		ch, err := conn.Channel()
		if err != nil {
			return nil, fmt.Errorf("open channel: %w", err)
		}
		if err := ch.Confirm(false); err != nil {
			ch.Close()
			return nil, fmt.Errorf("confirm mode: %w", err)
		}
		returns := ch.NotifyReturn(make(chan amqp091.Return, confirmBatch))
		return &pubChannel{conn: conn, ch: ch, returns: returns}, nil
	}, func(pc *pubChannel) { pc.ch.Close() })
}

// release takes pc back; a channel that failed, or whose confirms a caller stopped waiting
// for, is closed instead, so that its late confirms and returns reach no one.
func (p *publisher) release(pc *pubChannel, healthy bool) {
	defer func() { <-p.slots }()
	if healthy && !pc.ch.IsClosed() {
		p.mu.Lock()
		p.idle = append(p.idle, pc)
		p.mu.Unlock()
		return
	}
	if !pc.ch.IsClosed() && !p.q.spawn(func() { pc.ch.Close() }) {
		pc.ch.Close()
	}
}
