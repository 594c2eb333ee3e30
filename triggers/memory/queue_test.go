package memory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

func TestQueueFull(t *testing.T) {
	b := newBroker(t, memory.Options{MaxQueueLength: 3})
	ctx := context.Background()
	if err := b.PublishQueue(ctx, "q", messages("m", 2)...); err != nil {
		t.Fatal(err)
	}
	// All or nothing: two more do not fit, so neither is published.
	err := b.PublishQueue(ctx, "q", messages("x", 2)...)
	if !errors.Is(err, memory.ErrFull) || !strings.Contains(err.Error(), `queue "q"`) {
		t.Fatalf("publish beyond the bound: %v, want ErrFull naming the queue", err)
	}
	if err := b.PublishQueue(ctx, "q", messages("y", 1)...); err != nil {
		t.Fatal(err)
	}
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	ds := receive(t, src, 3)
	if got := idsOf(ds); got != "m-0#1 m-1#1 y-0#1" {
		t.Fatalf("got %s", got)
	}
	// Delivered but unacknowledged, or waiting for a retry, still counts.
	if err := src.Retry(ctx, ds[0], time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishQueue(ctx, "q", messages("z", 1)...); !errors.Is(err, memory.ErrFull) {
		t.Fatalf("publish with 1 retrying and 2 unacked: %v, want ErrFull", err)
	}
	if err := src.Ack(ctx, ds[1], ds[2]); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishQueue(ctx, "q", messages("z", 2)...); err != nil {
		t.Fatalf("publish after acks: %v", err)
	}
}

func TestQueueDeadLetterFullKeepsDelivery(t *testing.T) {
	b := newBroker(t, memory.Options{MaxQueueLength: 1})
	ctx := context.Background()
	b.PublishQueue(ctx, "q.dlq", messages("old", 1)...)
	b.PublishQueue(ctx, "q", messages("m", 1)...)
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	d := receive(t, src, 1)[0]
	if err := src.DeadLetter(ctx, d, "boom"); !errors.Is(err, memory.ErrFull) {
		t.Fatalf("dead-letter to a full queue: %v, want ErrFull", err)
	}
	if err := src.Ack(ctx, d); err != nil {
		t.Fatalf("the delivery is still held after a failed dead-letter: %v", err)
	}
}

func TestQueuePriorityCapped(t *testing.T) {
	b := newBroker(t, memory.Options{})
	ctx := context.Background()
	openQueue(t, b, triggers.QueueOptions{Queue: "q", MaxPriority: 3}).Close()
	b.PublishQueue(ctx, "q",
		&triggers.Message{ID: "p1", Priority: 1},
		&triggers.Message{ID: "p9", Priority: 9}, // capped to 3: same level as p3, FIFO
		&triggers.Message{ID: "p0", Priority: -5},
		&triggers.Message{ID: "p3", Priority: 3},
		&triggers.Message{ID: "p2", Priority: 2},
	)
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q", MaxPriority: 3})
	ds := receive(t, src, 5)
	if got := idsOf(ds); got != "p9#1 p3#1 p2#1 p1#1 p0#1" {
		t.Fatalf("order %s", got)
	}
	if ds[0].Priority != 9 {
		t.Fatalf("delivered priority %d, want the published 9", ds[0].Priority)
	}
}

func TestQueueWithoutPriorityIsFIFO(t *testing.T) {
	b := newBroker(t, memory.Options{})
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	b.PublishQueue(context.Background(), "q", &triggers.Message{ID: "a", Priority: 1}, &triggers.Message{ID: "b", Priority: 9})
	if got := idsOf(receive(t, src, 2)); got != "a#1 b#1" {
		t.Fatalf("order %s", got)
	}
}

func TestQueuePublishedBeforeDeclaredIsOrderedByPriority(t *testing.T) {
	b := newBroker(t, memory.Options{})
	b.PublishQueue(context.Background(), "q", &triggers.Message{ID: "low"}, &triggers.Message{ID: "high", Priority: 5})
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q", MaxPriority: 5})
	if got := idsOf(receive(t, src, 2)); got != "high#1 low#1" {
		t.Fatalf("order %s", got)
	}
}

func TestQueueMaxPriorityConflict(t *testing.T) {
	b := newBroker(t, memory.Options{})
	openQueue(t, b, triggers.QueueOptions{Queue: "q", MaxPriority: 10})
	if _, err := b.ConsumeQueue(context.Background(), triggers.QueueOptions{Queue: "q", MaxPriority: 5}); err == nil ||
		!strings.Contains(err.Error(), "max priority 10") {
		t.Fatalf("redeclare with another max priority: %v", err)
	}
}

func TestQueueOptionsValidated(t *testing.T) {
	b := newBroker(t, memory.Options{})
	_, err := b.ConsumeQueue(context.Background(), triggers.QueueOptions{Prefetch: -1, MaxPriority: 300})
	for _, want := range []string{"queue: required", "prefetch: -1", "maxPriority: 300"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v does not mention %q", err, want)
		}
	}
	_, err = b.ConsumeQueue(context.Background(), triggers.QueueOptions{Queue: "q", DeadLetter: "q"})
	if err == nil || !strings.Contains(err.Error(), "deadLetter") {
		t.Fatalf("dead-lettering into itself: %v", err)
	}
}

func TestQueueCloseRequeuesAtTheFrontInOrder(t *testing.T) {
	b := newBroker(t, memory.Options{})
	b.PublishQueue(context.Background(), "q", messages("m", 4)...)
	a := openQueue(t, b, triggers.QueueOptions{Queue: "q", Prefetch: 2})
	held := receive(t, a, 2)
	a.Close()
	if err := a.Ack(context.Background(), held...); !errors.Is(err, triggers.ErrClosed) {
		t.Fatalf("ack after close: %v, want ErrClosed", err)
	}
	c := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	if got := idsOf(receive(t, c, 4)); got != "m-0#2 m-1#2 m-2#1 m-3#1" {
		t.Fatalf("after close got %s", got)
	}
}

func TestQueueAttemptsCountEveryDelivery(t *testing.T) {
	b := newBroker(t, memory.Options{})
	ctx := context.Background()
	b.PublishQueue(ctx, "q", messages("m", 1)...)
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	for want := 1; want <= 3; want++ {
		d := receive(t, src, 1)[0]
		if d.Attempt != want {
			t.Fatalf("delivery %d has attempt %d", want, d.Attempt)
		}
		if err := src.Retry(ctx, d, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// The retried delivery is settled: settling it again is refused.
		if err := src.Ack(ctx, d); !errors.Is(err, memory.ErrNotHeld) {
			t.Fatalf("ack after retry: %v, want ErrNotHeld", err)
		}
	}
}

func TestQueuePublishFillsIDAndTimeInACopy(t *testing.T) {
	b := newBroker(t, memory.Options{})
	m := &triggers.Message{Data: []byte("x"), Headers: map[string]string{"h": "1"}}
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	before := time.Now()
	b.PublishQueue(context.Background(), "q", m, m)
	m.Data[0], m.Headers["h"] = 'y', "2" // the publisher reuses its buffers
	ds := receive(t, src, 2)
	if len(ds[0].ID) != 32 || strings.Trim(ds[0].ID, "0123456789abcdef") != "" || ds[0].ID == ds[1].ID {
		t.Fatalf("IDs %q, %q: want distinct random 128-bit hex", ds[0].ID, ds[1].ID)
	}
	if ds[0].Time.Before(before) {
		t.Fatalf("time %v not filled", ds[0].Time)
	}
	if m.ID != "" || !m.Time.IsZero() {
		t.Fatalf("the published message was modified: %+v", m)
	}
	if string(ds[0].Data) != "x" || ds[0].Headers["h"] != "1" {
		t.Fatalf("delivery shares memory with the publisher: %q %v", ds[0].Data, ds[0].Headers)
	}
}

func TestQueueReceiveWakesOnPublishAndOnRoom(t *testing.T) {
	b := newBroker(t, memory.Options{})
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q", Prefetch: 1})
	got := make(chan []*triggers.Delivery, 1)
	go func() {
		ds, _ := src.Receive(testkit.Context(t, 5*time.Second), 1)
		got <- ds
	}()
	b.PublishQueue(context.Background(), "q", messages("m", 2)...)
	first := <-got
	if len(first) != 1 || first[0].ID != "m-0" {
		t.Fatalf("woken with %v", first)
	}
	// Prefetch 1 is used up: the next Receive waits for the ack.
	go func() {
		ds, _ := src.Receive(testkit.Context(t, 5*time.Second), 1)
		got <- ds
	}()
	select {
	case ds := <-got:
		t.Fatalf("received %s beyond the prefetch", idsOf(ds))
	case <-time.After(50 * time.Millisecond):
	}
	src.Ack(context.Background(), first...)
	if ds := <-got; len(ds) != 1 || ds[0].ID != "m-1" {
		t.Fatalf("after the ack got %v", ds)
	}
}

func TestQueueCancelWhileBlocked(t *testing.T) {
	b := newBroker(t, memory.Options{})
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	nothing(t, src, 50*time.Millisecond) // blocked, then the deadline
	// The consumer is still usable.
	b.PublishQueue(context.Background(), "q", messages("m", 1)...)
	receive(t, src, 1)
}

func TestQueueDeadLetterKeepsFieldsAndIsAQueue(t *testing.T) {
	b := newBroker(t, memory.Options{})
	ctx := context.Background()
	sent := &triggers.Message{
		ID: "m", Type: "OrderCreated", Source: "fn/x", Subject: "o-1", ContentType: "application/json",
		Data: []byte(`{}`), CorrelationID: "c", ReplyTo: "r", Priority: 2, Traceparent: "00-tp",
		Headers: map[string]string{"k": "v"},
	}
	b.PublishQueue(ctx, "q", sent)
	src := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	d := receive(t, src, 1)[0]
	src.Retry(ctx, d, 0)
	d = receive(t, src, 1)[0]
	if err := src.DeadLetter(ctx, d, "boom"); err != nil {
		t.Fatal(err)
	}
	// The default dead-letter queue is an ordinary queue.
	dlq := openQueue(t, b, triggers.QueueOptions{Queue: "q.dlq"})
	got := receive(t, dlq, 1)[0]
	if got.Headers["error"] != "boom" || got.Headers["attempts"] != "2" || got.Headers["k"] != "v" || got.Attempt != 1 {
		t.Fatalf("dead letter headers %v attempt %d", got.Headers, got.Attempt)
	}
	got.Headers, sent.Headers = nil, nil
	if got.Message.ID != sent.ID || got.Type != sent.Type || got.Source != sent.Source || got.Subject != sent.Subject ||
		got.ContentType != sent.ContentType || string(got.Data) != string(sent.Data) || got.CorrelationID != sent.CorrelationID ||
		got.ReplyTo != sent.ReplyTo || got.Priority != sent.Priority || got.Traceparent != sent.Traceparent {
		t.Fatalf("dead letter %+v lost fields of %+v", got.Message, *sent)
	}
	dlq.Close() // back to ready, where ListDead sees it
	dead, err := b.ListDead(ctx, "q.dlq", 0)
	if err != nil || len(dead) != 1 || dead[0].Error != "boom" || dead[0].Attempts != 2 || dead[0].Headers["error"] != "" {
		t.Fatalf("list dead: %+v, %v", dead, err)
	}
}
