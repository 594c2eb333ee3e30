package amqp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/triggers"
)

// directReplyTo prefixes the reply-to of a request whose caller uses RabbitMQ's direct
// reply-to: a name the broker gave the caller's channel, which is no queue.
const directReplyTo = "amq.rabbitmq.reply-to."

// maxUnclaimed bounds the returned replies kept for publishers that stopped waiting, and the
// returns waiting to be taken.
const maxUnclaimed = 1024

// PublishReply publishes msg to the default exchange with replyTo as its routing key,
// confirmed, and without declaring the queue: a client's exclusive server-named queue
// belongs to its connection (a passive declare from another connection is refused), and
// direct reply-to names no queue at all. A reply to a queue is mandatory: one the broker
// returns, because its queue is gone, wraps triggers.ErrNoReplyQueue. A direct reply is not:
// RabbitMQ 3.x returns every mandatory direct reply, delivered or not, and drops one
// whose caller left without a word (docs/events.md#rpc-replies).
func (q *Queues) PublishReply(ctx context.Context, replyTo string, msg *triggers.Message) error {
	if replyTo == "" {
		return errors.New("amqp reply: no reply-to queue")
	}
	fill(msg)
	returned, err := q.replies.publish(ctx, replyTo, !strings.HasPrefix(replyTo, directReplyTo), toPublishing(msg))
	switch {
	case err != nil:
		return fmt.Errorf("amqp reply to %q: %w", replyTo, err)
	case returned:
		return fmt.Errorf("amqp reply to %q: %w", replyTo, triggers.ErrNoReplyQueue)
	}
	return nil
}

// replier publishes replies on one confirm-mode channel of the publishing connection that
// every caller shares: the broker confirms the replies in flight together with one frame,
// where a channel per reply (as PublishQueue lends) costs the broker and the gateway a
// confirm frame and a wake-up each. A return is matched to its reply by routing key,
// message ID and correlation ID; replies to one request share them, and whichever of its
// publishers takes the return is right.
type replier struct {
	q *Queues

	mu      sync.Mutex
	conn    *amqp091.Connection
	ch      *amqp091.Channel
	returns <-chan amqp091.Return
	// unclaimed are the returns read from the channel that their publisher has not taken yet.
	unclaimed map[replyKey]int
}

type replyKey struct{ to, id, corr string }

// publish sends p to the queue named to and waits for the broker's confirm, up to ctx. It
// reports whether the broker returned p.
func (r *replier) publish(ctx context.Context, to string, mandatory bool, p amqp091.Publishing) (bool, error) {
	ch, returns, err := r.channel(ctx)
	if err != nil {
		return false, err
	}
	// A write blocks when the broker stops reading (a resource alarm); call bounds it by ctx.
	dc, err := call(r.q, ctx, func() (*amqp091.DeferredConfirmation, error) {
		return ch.PublishWithDeferredConfirm("", to, mandatory, false, p)
	}, nil)
	if err != nil {
		return false, err
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		return false, fmt.Errorf("waiting for the broker's confirm: %w", ctx.Err())
	}
	if !dc.Acked() {
		if ch.IsClosed() {
			return false, errors.New("channel closed before the broker confirmed the message")
		}
		return false, errors.New("the broker refused the message (nack)")
	}
	// The broker sends a basic.return before the basic.ack of the same message, and amqp091
	// hands both over in that order: the return, if any, is in the channel or was taken out.
	r.mu.Lock()
	defer r.mu.Unlock()
	r.take(returns)
	k := replyKey{to, p.MessageId, p.CorrelationId}
	if r.unclaimed[k] == 0 {
		return false, nil
	}
	if r.unclaimed[k]--; r.unclaimed[k] == 0 {
		delete(r.unclaimed, k)
	}
	return true, nil
}

// take moves the returns waiting in returns into unclaimed. r.mu is held.
func (r *replier) take(returns <-chan amqp091.Return) {
	for {
		select {
		case ret, ok := <-returns:
			if !ok {
				return
			}
			if len(r.unclaimed) >= maxUnclaimed {
				clear(r.unclaimed) // their publishers are long gone
			}
			r.unclaimed[replyKey{ret.RoutingKey, ret.MessageId, ret.CorrelationId}]++
		default:
			return
		}
	}
}

// channel returns the shared channel of the current publishing connection, opening it on
// first use and after the last one closed.
func (r *replier) channel(ctx context.Context) (*amqp091.Channel, <-chan amqp091.Return, error) {
	conn, err := r.q.pubLink.wait(ctx)
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch != nil && r.conn == conn && !r.ch.IsClosed() {
		return r.ch, r.returns, nil
	}
	ch, err := call(r.q, ctx, func() (*amqp091.Channel, error) {
		ch, err := conn.Channel()
		if err != nil {
			return nil, fmt.Errorf("open channel: %w", err)
		}
		if err := ch.Confirm(false); err != nil {
			ch.Close()
			return nil, fmt.Errorf("confirm mode: %w", err)
		}
		return ch, nil
	}, func(ch *amqp091.Channel) { ch.Close() })
	if err != nil {
		return nil, nil, err
	}
	// amqp091 hands a return over before the confirm that follows it, waiting up to 5 s for
	// room: every publisher takes all the returns there are once its confirm came, so the
	// buffer only has to hold those of the replies in flight together.
	returns := ch.NotifyReturn(make(chan amqp091.Return, maxUnclaimed))
	r.conn, r.ch, r.returns, r.unclaimed = conn, ch, returns, map[replyKey]int{}
	return ch, returns, nil
}
