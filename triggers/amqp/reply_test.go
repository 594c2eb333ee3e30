package amqp

import (
	"errors"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

// rpcClient is the caller's side of the RabbitMQ RPC pattern, on a connection of its own:
// the reply queue it consumes and names in reply_to.
type rpcClient struct {
	conn    *amqp091.Connection
	ch      *amqp091.Channel
	replyTo string
	replies <-chan amqp091.Delivery
}

// newRPCClient consumes an exclusive server-named queue, or with direct set RabbitMQ's direct
// reply-to, whose name for this channel the broker reveals on a request's reply_to.
func newRPCClient(t *testing.T, direct bool) *rpcClient {
	t.Helper()
	conn, err := amqp091.Dial(testURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	c := &rpcClient{conn: conn, ch: ch, replyTo: "amq.rabbitmq.reply-to"}
	if !direct {
		q, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.replyTo = q.Name
	}
	if c.replies, err = ch.Consume(c.replyTo, "", true, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// request publishes a request to queue and returns the reply-to a server sees on it.
func (c *rpcClient) request(t *testing.T, q *Queues, queue string) string {
	t.Helper()
	src, err := q.ConsumeQueue(testkit.Context(t, 10*time.Second), triggers.QueueOptions{Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close(); deleteQueues(t, queue, queue+".dlq") })
	err = c.ch.PublishWithContext(testkit.Context(t, 5*time.Second), "", queue, false, false,
		amqp091.Publishing{ReplyTo: c.replyTo, CorrelationId: "corr-7", Body: []byte("ping")})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := src.Receive(testkit.Context(t, 10*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Ack(testkit.Context(t, 5*time.Second), ds...); err != nil {
		t.Fatal(err)
	}
	return ds[0].ReplyTo
}

// TestReplyReachesTheCallersOwnQueue answers the two kinds of reply queue RabbitMQ clients
// use, neither of which the gateway's connection may declare: an exclusive queue of the
// caller's connection, and direct reply-to. Once the caller is gone, a reply to its queue is
// returned, and a direct reply dropped.
func TestReplyReachesTheCallersOwnQueue(t *testing.T) {
	needBroker(t)
	for _, mode := range []struct {
		name   string
		direct bool
	}{{"exclusive queue", false}, {"direct reply-to", true}} {
		t.Run(mode.name, func(t *testing.T) {
			q := dialTest(t, Options{})
			client := newRPCClient(t, mode.direct)
			replyTo := client.request(t, q, uniqueName(t))
			reply := &triggers.Message{CorrelationID: "corr-7", Data: []byte("pong")}
			if err := q.PublishReply(testkit.Context(t, 10*time.Second), replyTo, reply); err != nil {
				t.Fatalf("reply to %s: %v", replyTo, err)
			}
			select {
			case d := <-client.replies:
				if d.CorrelationId != "corr-7" || string(d.Body) != "pong" {
					t.Fatalf("reply %q with correlation %q, want pong with corr-7", d.Body, d.CorrelationId)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no reply within 10s")
			}
			client.conn.Close()
			err := q.PublishReply(testkit.Context(t, 10*time.Second), replyTo, reply)
			switch {
			case mode.direct && err != nil:
				// RabbitMQ drops a direct reply whose caller left, and says nothing.
				t.Fatalf("direct reply after the caller left: %v, want it dropped", err)
			case !mode.direct && !errors.Is(err, triggers.ErrNoReplyQueue):
				t.Fatalf("reply after the caller left: %v, want ErrNoReplyQueue", err)
			}
			// The publishing channel stays usable.
			if err := q.PublishQueue(testkit.Context(t, 10*time.Second), uniqueName(t)+"-after", &triggers.Message{Data: []byte("x")}); err != nil {
				t.Fatalf("publish after a returned reply: %v", err)
			}
		})
	}
}
