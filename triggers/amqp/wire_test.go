package amqp

import (
	"reflect"
	"regexp"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

var when = time.Date(2026, 3, 1, 12, 30, 45, 0, time.UTC)

func fullMessage() *triggers.Message {
	return &triggers.Message{
		ID: "id-1", Type: "OrderCreated", Source: "function/create-order", Subject: "orders/42",
		Time: when, ContentType: "application/json", Data: []byte(`{"amount":3}`),
		CorrelationID: "corr-1", ReplyTo: "replies", Priority: 7,
		Headers:     map[string]string{"tenant": "acme", "x-edgefn-attempt": "9"},
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
}

func TestToPublishing(t *testing.T) {
	p := toPublishing(fullMessage())
	want := amqp091.Publishing{
		Headers: amqp091.Table{
			"tenant": "acme", "source": "function/create-order", "subject": "orders/42",
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		},
		ContentType: "application/json", DeliveryMode: amqp091.Persistent, Priority: 7,
		CorrelationId: "corr-1", ReplyTo: "replies", MessageId: "id-1", Timestamp: when,
		Type: "OrderCreated", Body: []byte(`{"amount":3}`),
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("publishing\n%+v\nwant\n%+v", p, want)
	}
	if err := p.Headers.Validate(); err != nil {
		t.Fatal(err)
	}
	for prio, want := range map[int]uint8{-1: 0, 0: 0, 255: 255, 1000: 255} {
		if got := toPublishing(&triggers.Message{Priority: prio}).Priority; got != want {
			t.Errorf("priority %d → %d, want %d", prio, got, want)
		}
	}
}

func TestFromDelivery(t *testing.T) {
	d := &amqp091.Delivery{
		Headers: amqp091.Table{
			"traceparent": "tp", "subject": "s", "source": "src", "x-edgefn-attempt": int32(3),
			"tenant": "acme", "n": int64(5), "ok": true, "ratio": 0.5, "raw": []byte("bytes"),
			"at":      when,
			"x-death": []any{amqp091.Table{"count": int64(1)}}, "x-first-death-queue": "q.retry.100",
			"nested": amqp091.Table{"a": "b"}, "list": []any{"x"}, "nil": nil,
		},
		ContentType: "text/plain", Priority: 4, CorrelationId: "c", ReplyTo: "r", MessageId: "m",
		Timestamp: when.Local(), Type: "T", Body: []byte("hello"), UserId: "guest", AppId: "app",
	}
	m, attempt := fromDelivery(d)
	want := triggers.Message{
		ID: "m", Type: "T", Source: "src", Subject: "s", Time: when, ContentType: "text/plain",
		Data: []byte("hello"), CorrelationID: "c", ReplyTo: "r", Priority: 4, Traceparent: "tp",
		Headers: map[string]string{
			"tenant": "acme", "n": "5", "ok": "true", "ratio": "0.5", "raw": "bytes",
			"at": "2026-03-01T12:30:45Z",
		},
	}
	if !reflect.DeepEqual(m, want) || attempt != 3 {
		t.Fatalf("message\n%+v (attempt %d)\nwant\n%+v (attempt 3)", m, attempt, want)
	}
	d.Redelivered = true
	if _, attempt := fromDelivery(d); attempt != 4 {
		t.Fatalf("redelivered attempt %d, want 4", attempt)
	}
	if _, attempt := fromDelivery(&amqp091.Delivery{Redelivered: true}); attempt != 2 {
		t.Fatalf("redelivered first delivery has attempt %d, want 2", attempt)
	}
	if _, attempt := fromDelivery(&amqp091.Delivery{}); attempt != 1 {
		t.Fatalf("first delivery has attempt %d, want 1", attempt)
	}
}

func TestRepublishingKeepsOriginalAndDropsBrokerState(t *testing.T) {
	d := &amqp091.Delivery{
		Headers:     amqp091.Table{"tenant": "acme", "x-death": []any{}, "x-last-death-reason": "expired", "n": int32(2)},
		ContentType: "a/b", ContentEncoding: "gzip", Priority: 2, CorrelationId: "c", ReplyTo: "r",
		Expiration: "1000", MessageId: "m", Timestamp: when, Type: "T", UserId: "guest", AppId: "app",
		Body: []byte("x"), DeliveryMode: amqp091.Transient,
	}
	p := republishing(d)
	want := amqp091.Publishing{
		Headers:     amqp091.Table{"tenant": "acme", "n": int32(2)},
		ContentType: "a/b", ContentEncoding: "gzip", DeliveryMode: amqp091.Persistent, Priority: 2,
		CorrelationId: "c", ReplyTo: "r", MessageId: "m", Timestamp: when, Type: "T", AppId: "app",
		Body: []byte("x"),
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("republishing\n%+v\nwant\n%+v", p, want)
	}
}

func TestFillSetsIDAndTime(t *testing.T) {
	m := &triggers.Message{}
	fill(m)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(m.ID) || time.Since(m.Time) > time.Minute {
		t.Fatalf("filled %q %v", m.ID, m.Time)
	}
	kept := fullMessage()
	fill(kept)
	if kept.ID != "id-1" || !kept.Time.Equal(when) {
		t.Fatalf("fill overwrote %q %v", kept.ID, kept.Time)
	}
}

// TestWireToBroker publishes through the backend and reads the raw AMQP message.
func TestWireToBroker(t *testing.T) {
	q := dialTest(t, Options{})
	name := uniqueName(t)
	ctx := testkit.Context(t, 10*time.Second)
	if err := q.PublishQueue(ctx, name, fullMessage()); err != nil { // declares the queue
		t.Fatal(err)
	}
	d, ok, err := adminChannel(t).Get(name, true)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	got := map[string]any{
		"message_id": d.MessageId, "type": d.Type, "correlation_id": d.CorrelationId,
		"timestamp": d.Timestamp.UTC(), "content_type": d.ContentType, "reply_to": d.ReplyTo,
		"priority": d.Priority, "delivery_mode": d.DeliveryMode, "body": string(d.Body),
		"headers": map[string]any(d.Headers),
	}
	want := map[string]any{
		"message_id": "id-1", "type": "OrderCreated", "correlation_id": "corr-1",
		"timestamp": when, "content_type": "application/json", "reply_to": "replies",
		"priority": uint8(7), "delivery_mode": amqp091.Persistent, "body": `{"amount":3}`,
		"headers": map[string]any{
			"tenant": "acme", "source": "function/create-order", "subject": "orders/42",
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("on the wire\n%v\nwant\n%v", got, want)
	}
}

// TestWireFromBroker reads through the backend what another producer published, and what
// a dead letter looks like on the wire.
func TestWireFromBroker(t *testing.T) {
	q := dialTest(t, Options{})
	name := uniqueName(t)
	ctx := testkit.Context(t, 10*time.Second)
	src, err := q.ConsumeQueue(ctx, triggers.QueueOptions{Queue: name, MaxPriority: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	admin := adminChannel(t)
	err = admin.PublishWithContext(ctx, "", name, false, false, amqp091.Publishing{
		Headers: amqp091.Table{
			"traceparent": "tp", "subject": "s", "source": "legacy", "tenant": "acme",
			"count": int32(2), "x-edgefn-attempt": int64(2), "meta": amqp091.Table{"a": "b"},
		},
		ContentType: "text/plain", Priority: 4, CorrelationId: "c", ReplyTo: "r", MessageId: "m",
		Timestamp: when, Type: "T", AppId: "legacy-app", Body: []byte("hello"),
	})
	if err != nil {
		t.Fatal(err)
	}
	d := mustReceive(t, src, 1)[0]
	want := triggers.Message{
		ID: "m", Type: "T", Source: "legacy", Subject: "s", Time: when, ContentType: "text/plain",
		Data: []byte("hello"), CorrelationID: "c", ReplyTo: "r", Priority: 4, Traceparent: "tp",
		Headers: map[string]string{"tenant": "acme", "count": "2"},
	}
	if !reflect.DeepEqual(d.Message, want) || d.Attempt != 2 {
		t.Fatalf("delivery\n%+v (attempt %d)\nwant\n%+v (attempt 2)", d.Message, d.Attempt, want)
	}

	if err := src.DeadLetter(ctx, d, "boom"); err != nil {
		t.Fatal(err)
	}
	dead, ok, err := admin.Get(name+".dlq", true)
	if err != nil || !ok {
		t.Fatalf("get dead letter: %v %v", ok, err)
	}
	wantHeaders := amqp091.Table{
		"traceparent": "tp", "subject": "s", "source": "legacy", "tenant": "acme",
		"count": int32(2), "x-edgefn-attempt": int64(2), "meta": amqp091.Table{"a": "b"},
		"error": "boom", "attempts": int32(2),
	}
	if !reflect.DeepEqual(dead.Headers, wantHeaders) {
		t.Fatalf("dead letter headers\n%v\nwant\n%v", dead.Headers, wantHeaders)
	}
	if dead.AppId != "legacy-app" || dead.MessageId != "m" || dead.Priority != 4 || dead.DeliveryMode != amqp091.Persistent ||
		!dead.Timestamp.Equal(when) || string(dead.Body) != "hello" || dead.ReplyTo != "r" {
		t.Fatalf("dead letter lost original properties: %+v", dead)
	}
}
