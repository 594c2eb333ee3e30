package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/bench/internal/harness"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/amqp"
)

// queuePrefetch is the prefetch of both consumers: the baseline's basic.qos and the queue
// trigger's `prefetch`.
const queuePrefetch = 64

// rabbitSide is what the queue measurements hold on RabbitMQ: edgefn's RabbitMQ backend,
// which pre-publishes the queues, and a connection of its own for the baseline and the
// watcher.
type rabbitSide struct {
	url    string
	queues *amqp.Queues
	conn   *amqp091.Connection
	// pids are RabbitMQ's processes, whose CPU time a run counts.
	pids []int
}

func dialRabbit(url string) (*rabbitSide, error) {
	r := &rabbitSide{url: url, pids: harness.PidsNamed("beam.smp")}
	var err error
	if r.conn, err = amqp091.Dial(url); err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	if r.queues, err = amqp.Dial(url, amqp.Options{}); err != nil {
		r.conn.Close()
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	return r, nil
}

func (r *rabbitSide) close() {
	r.queues.Close()
	r.conn.Close()
}

// version is the RabbitMQ server's version.
func (r *rabbitSide) version() string {
	if v, ok := r.conn.Properties["version"].(string); ok {
		return v
	}
	return "?"
}

// prepublish puts n persistent messages on queue through edgefn's backend (publisher
// confirms, 1,000 messages a call).
func (r *rabbitSide) prepublish(ctx context.Context, queue string, n int) error {
	batch := make([]*triggers.Message, 0, 1000)
	for i := 0; i < n; {
		batch = batch[:0]
		for ; i < n && len(batch) < cap(batch); i++ {
			batch = append(batch, benchMessage(i))
		}
		if err := r.queues.PublishQueue(ctx, queue, batch...); err != nil {
			return fmt.Errorf("pre-publish %s: %w", queue, err)
		}
	}
	if ready, err := r.ready(queue); err != nil || ready != n {
		return fmt.Errorf("pre-publish %s: %d messages ready, want %d (%v)", queue, ready, n, err)
	}
	return nil
}

// ready returns how many messages of queue are ready for delivery (queue.declare passive):
// neither delivered nor waiting for an acknowledgement.
func (r *rabbitSide) ready(queue string) (int, error) {
	ch, err := r.conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("declare %s passive: %w", queue, err)
	}
	return q.Messages, nil
}

// drop deletes the queue and its dead-letter queue.
func (r *rabbitSide) drop(queue string) {
	ch, err := r.conn.Channel()
	if err != nil {
		return
	}
	defer ch.Close()
	for _, q := range []string{queue, queue + ".dlq"} {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			return // a missing queue closes the channel
		}
	}
}

// queueRaw times an amqp091 consumer with prefetch 64 that acknowledges each message on its
// own, from basic.consume until the last acknowledgement is sent. Closing its channel then
// would put any message not acknowledged back on the queue: the queue must be empty after.
func (b *bench) queueRaw(ctx context.Context) (result, error) {
	r, n := b.rabbit, b.opts.queueMsgs
	queue := b.name("q")
	defer r.drop(queue)
	if err := r.prepublish(ctx, queue, n); err != nil {
		return result{}, err
	}
	ch, err := r.conn.Channel()
	if err != nil {
		return result{}, err
	}
	defer ch.Close()
	if err := ch.Qos(queuePrefetch, 0, false); err != nil {
		return result{}, err
	}
	if err := b.run.WaitTurn(ctx); err != nil {
		return result{}, err
	}
	u0 := harness.Snapshot(nil, r.pids...)
	start := time.Now()
	dels, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return result{}, err
	}
	timeout := time.NewTimer(5 * time.Minute)
	defer timeout.Stop()
	for got := 0; got < n; got++ {
		var d amqp091.Delivery
		var ok bool
		select {
		case d, ok = <-dels:
		case <-timeout.C:
			return result{}, fmt.Errorf("baseline consumer: %d of %d messages after 5 minutes", got, n)
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
		if !ok {
			return result{}, fmt.Errorf("baseline consumer stopped after %d messages", got)
		}
		if err := d.Ack(false); err != nil {
			return result{}, err
		}
	}
	elapsed := time.Since(start)
	u := harness.Snapshot(nil, r.pids...).Since(u0)
	ch.Close()
	if left, err := r.ready(queue); err != nil || left != 0 {
		return result{}, fmt.Errorf("baseline left %d messages on %s (%v)", left, queue, err)
	}
	return result{msgs: n, elapsed: elapsed, cpu: perMessage(u, n), other: u.Other()}, nil
}

// queueEdgefn starts a gateway whose noop consumes a pre-published queue (prefetch 64), and
// times from the moment it reports ready until the queue has no message ready (polled every
// 2 ms) and noop has been invoked once per message with none in flight (polled every 2 ms
// from then). Stopping the gateway then would put any message not acknowledged back on the
// queue: the queue must be empty after.
func (b *bench) queueEdgefn(ctx context.Context) (result, error) {
	r, n := b.rabbit, b.opts.queueMsgs
	queue := b.name("q")
	defer r.drop(queue)
	if err := r.prepublish(ctx, queue, n); err != nil {
		return result{}, err
	}
	if err := b.run.WaitTurn(ctx); err != nil {
		return result{}, err
	}
	g, err := b.startGateway(ctx, gatewayConfig{name: "queue", amqp: r.url, manifest: noopManifest(b.noop,
		fmt.Sprintf("  - queue: {name: %s, prefetch: %d}\n", queue, queuePrefetch))})
	if err != nil {
		return result{}, err
	}
	defer g.stop()
	u0 := harness.Snapshot(g.srv, r.pids...)
	res := result{msgs: n, startup: g.ready.Sub(g.started)}
	fi, err := g.info(ctx, noopName)
	if err != nil {
		return result{}, err
	}
	res.early = fi.Invocations
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := r.waitEmpty(wctx, queue); err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, g.srv.Output())
	}
	end, err := g.waitInvocations(wctx, noopName, int64(n), 2*time.Millisecond)
	if err != nil {
		return result{}, err
	}
	res.elapsed = end.Sub(g.ready)
	u := harness.Snapshot(g.srv, r.pids...).Since(u0)
	res.cpu, res.other = perMessage(u, n), u.Other()
	g.stop()
	if left, err := r.ready(queue); err != nil || left != 0 {
		return result{}, fmt.Errorf("edgefn left %d messages on %s (%v)", left, queue, err)
	}
	return res, nil
}

// waitEmpty polls queue every 2 ms, on one channel, until no message is ready.
func (r *rabbitSide) waitEmpty(ctx context.Context, queue string) error {
	ch, err := r.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	for {
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("declare %s passive: %w", queue, err)
		}
		if q.Messages == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("%s: %d messages still ready", queue, q.Messages), ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
