package amqp

import (
	"errors"
	"strconv"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

// forwardPrefetch bounds the due messages one forwarder holds, each waiting out the part
// of its delay below a second, checking its tombstone or being published.
const forwardPrefetch = 256

// forwardRetry is how soon a due message that could not be forwarded is tried again.
const forwardRetry = time.Second

// forward consumes dueQueue until q closes and publishes each message to its target queue
// when it is due, unless it was cancelled. Every Queues runs it, so any node of a cluster
// forwards, and a node that starts picks up what fell due while none ran.
func (q *Queues) forward() {
	for n := 0; q.ctx.Err() == nil; n++ {
		src, err := q.ConsumeQueue(q.ctx, triggers.QueueOptions{Queue: dueQueue, Prefetch: forwardPrefetch})
		if err != nil {
			if q.ctx.Err() == nil {
				q.log.Warn("amqp delayed messages: consume "+dueQueue, "err", err)
			}
			select {
			case <-q.ctx.Done():
				return
			case <-time.After(q.opts.backoff(n)):
			}
			continue
		}
		n = 0
		q.forwardFrom(src)
		src.Close()
	}
}

// forwardFrom forwards what src delivers until it closes, each message in a goroutine of
// its own (at most forwardPrefetch, the prefetch), so that one waiting for its due time
// holds back none behind it.
func (q *Queues) forwardFrom(src triggers.Source) {
	for {
		ds, err := src.Receive(q.ctx, forwardPrefetch)
		if err != nil {
			return
		}
		for _, d := range ds {
			if !q.spawn(func() { q.forwardOne(src, d) }) {
				return // closing: unsettled deliveries go back to dueQueue
			}
		}
	}
}

// forwardOne publishes the due message d to its target queue and acknowledges it; a
// cancelled one is acknowledged only. A failure leaves it to come back in a second.
func (q *Queues) forwardOne(src triggers.Source, d *triggers.Delivery) {
	ctx := q.ctx
	target := d.Headers[headerDelayQueue]
	dueMs, err := strconv.ParseInt(d.Headers[headerDelayDue], 10, 64)
	if target == "" || err != nil {
		if err := src.DeadLetter(ctx, d, "not a delayed message: no "+headerDelayQueue+" or "+headerDelayDue+" header"); err != nil {
			q.log.Warn("amqp delayed messages: dead-letter a malformed one", "id", d.ID, "err", err)
		}
		return
	}
	// The ladder holds whole seconds; the rest of the delay is waited out here.
	if wait := time.Until(time.UnixMilli(dueMs)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return // unsettled: back to dueQueue
		}
	}
	cancelled, err := q.cancelled(ctx, target, d.ID)
	if err == nil && !cancelled {
		m := d.Message
		m.Headers = make(map[string]string, len(d.Headers))
		for k, v := range d.Headers {
			if k != headerDelayQueue && k != headerDelayDue {
				m.Headers[k] = v
			}
		}
		err = q.PublishQueue(ctx, target, &m)
	}
	if err != nil {
		if q.closing() || errors.Is(err, ErrClosed) {
			return // unsettled: back to dueQueue
		}
		q.log.Warn("amqp delayed messages: forward", "queue", target, "id", d.ID, "err", err)
		if err := src.Retry(ctx, d, forwardRetry); err != nil {
			q.log.Warn("amqp delayed messages: retry forwarding", "queue", target, "id", d.ID, "err", err)
		}
		return
	}
	if err := src.Ack(ctx, d); err != nil && !q.closing() {
		// Redelivered and forwarded again: at least once.
		q.log.Warn("amqp delayed messages: ack", "queue", target, "id", d.ID, "err", err)
	}
}

// closing reports whether Close was called.
func (q *Queues) closing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
