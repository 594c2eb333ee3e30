package amqp

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/triggers"
)

// Consuming benchMessages pre-published messages with one ack per message and prefetch 16
// (the manifest default), through a bare amqp091 consumer (the baseline) and through the
// Source, in the same run:
//
//	go test -run '^$' -bench Consume -benchtime 3x -count 5 ./triggers/amqp/
//
// BenchmarkConsume runs each way as a sub-benchmark: one op consumes benchMessages
// messages and msgs/s is the rate. BenchmarkConsumePaired runs both ways in each op, in
// alternating order on the same queue, so that a change in the machine's load hits both
// alike, and reports their ratio (1 = as fast as the baseline).
const (
	benchMessages = 10_000
	benchPrefetch = 16
)

func BenchmarkConsume(b *testing.B) {
	needBroker(b)
	b.Run("amqp091", func(b *testing.B) {
		conn := rawConn(b)
		name, pub := benchQueue(b)
		for range b.N {
			b.StopTimer()
			prepublish(b, pub, name)
			b.StartTimer()
			consumeRaw(b, conn, name)
		}
		b.ReportMetric(float64(b.N*benchMessages)/b.Elapsed().Seconds(), "msgs/s")
	})
	for _, batch := range []int{1, benchPrefetch} {
		b.Run(fmt.Sprintf("source/receive-%d", batch), func(b *testing.B) {
			q := dialTest(b, Options{})
			name, pub := benchQueue(b)
			for range b.N {
				b.StopTimer()
				prepublish(b, pub, name)
				b.StartTimer()
				consumeSource(b, q, name, batch)
			}
			b.ReportMetric(float64(b.N*benchMessages)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func BenchmarkConsumePaired(b *testing.B) {
	needBroker(b)
	q := dialTest(b, Options{})
	conn := rawConn(b)
	name, pub := benchQueue(b)
	// One queue, filled afresh before each consumer, so that both meet the same state; the
	// order alternates.
	var raw, src time.Duration
	runRaw := func() {
		prepublish(b, pub, name)
		start := time.Now()
		consumeRaw(b, conn, name)
		raw += time.Since(start)
	}
	runSource := func() {
		prepublish(b, pub, name)
		start := time.Now()
		consumeSource(b, q, name, 1)
		src += time.Since(start)
	}
	for i := range b.N {
		if i%2 == 0 {
			runRaw()
			runSource()
		} else {
			runSource()
			runRaw()
		}
	}
	n := float64(b.N * benchMessages)
	b.ReportMetric(n/raw.Seconds(), "amqp091-msgs/s")
	b.ReportMetric(n/src.Seconds(), "source-msgs/s")
	b.ReportMetric(raw.Seconds()/src.Seconds(), "source/amqp091")
}

// benchQueue declares a queue and returns it with a confirm-mode channel to fill it.
func benchQueue(b *testing.B) (string, *amqp091.Channel) {
	name := uniqueName(b)
	b.Cleanup(func() { deleteQueues(b, name) })
	conn, err := amqp091.Dial(testURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	return name, ch
}

// prepublish puts benchMessages typical messages on queue, confirmed.
func prepublish(b *testing.B, ch *amqp091.Channel, queue string) {
	m := &triggers.Message{
		Type: "OrderCreated", Source: "function/create-order", ContentType: "application/json",
		Data: []byte(`{"order":"o-1234","amount":42.5,"currency":"EUR"}`), CorrelationID: "c-1",
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	dcs := make([]*amqp091.DeferredConfirmation, 0, benchMessages)
	for range benchMessages {
		m.ID, m.Time = "", time.Time{}
		fill(m)
		dc, err := ch.PublishWithDeferredConfirm("", queue, false, false, toPublishing(m))
		if err != nil {
			b.Fatal(err)
		}
		dcs = append(dcs, dc)
	}
	for _, dc := range dcs {
		if !dc.Wait() {
			b.Fatal("pre-publish nacked")
		}
	}
}

// rawConn is a connection for the baseline consumer, opened once as the Source's is.
func rawConn(b *testing.B) *amqp091.Connection {
	conn, err := amqp091.Dial(testURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

// consumeRaw consumes benchMessages messages of queue with a bare amqp091 consumer on a
// channel of its own.
func consumeRaw(b *testing.B, conn *amqp091.Connection, queue string) {
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Qos(benchPrefetch, 0, false); err != nil {
		b.Fatal(err)
	}
	dels, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	for range benchMessages {
		d := <-dels
		if err := d.Ack(false); err != nil {
			b.Fatal(err)
		}
	}
}

// consumeSource consumes benchMessages messages of queue through a Source, receiving up to
// batch at a time and acknowledging each delivery on its own.
func consumeSource(b *testing.B, q *Queues, queue string, batch int) {
	ctx := context.Background()
	src, err := q.ConsumeQueue(ctx, triggers.QueueOptions{Queue: queue, Prefetch: benchPrefetch})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for n := 0; n < benchMessages; {
		ds, err := src.Receive(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range ds {
			if err := src.Ack(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
		n += len(ds)
	}
}
