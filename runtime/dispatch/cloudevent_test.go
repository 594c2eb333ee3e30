package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
)

// recorder keeps what is published to it; it consumes nothing.
type recorder struct {
	triggers.Queues  // nil: ConsumeQueue is not called by Apply
	triggers.Streams // nil: ConsumeStream neither
	mu               sync.Mutex
	msgs             map[string][]*triggers.Message
}

func (r *recorder) PublishQueue(_ context.Context, q string, msgs ...*triggers.Message) error {
	return r.add("queue/"+q, msgs)
}

func (r *recorder) PublishStream(_ context.Context, s string, msgs ...*triggers.Message) error {
	return r.add("stream/"+s, msgs)
}

func (r *recorder) add(to string, msgs []*triggers.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.msgs == nil {
		r.msgs = map[string][]*triggers.Message{}
	}
	r.msgs[to] = append(r.msgs[to], msgs...)
	return nil
}

// readCloudEvent decodes a message body with the CloudEvents SDK and validates it.
func readCloudEvent(t *testing.T, m *triggers.Message) cloudevents.Event {
	t.Helper()
	if m.ContentType != "application/cloudevents+json" {
		t.Fatalf("content type %q, want application/cloudevents+json", m.ContentType)
	}
	var ce cloudevents.Event
	if err := ce.UnmarshalJSON(m.Data); err != nil {
		t.Fatalf("%s: %v", m.Data, err)
	}
	if err := ce.Validate(); err != nil {
		t.Fatalf("%s: %v", m.Data, err)
	}
	return ce
}

func TestEmitAsCloudEvent(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	rec := &recorder{}
	eff := &Effects{Queues: rec, Streams: rec}
	toQueue := event.ToQueue("orders", "com.example.created", map[string]any{"n": 1}).
		WithSubject("order-1").WithID("order-1-created").AsCloudEvent()
	toQueue.Headers = map[string]string{"tenant": "acme", "region2": "eu", "Upper": "x", "with-dash": "x",
		"averyveryverylongname1": "x", "id": "forged", "traceparent": "forged", "data": "forged"}
	binary := event.ToStream("blobs", "com.example.blob", nil).AsCloudEvent()
	binary.Data, binary.ContentType = []byte{0, 1, 0xff}, "application/octet-stream"
	notJSON := event.ToStream("blobs", "com.example.text", nil).AsCloudEvent()
	notJSON.Data = []byte("{not json") // says it is JSON, is not
	plain := event.ToStream("plain", "Plain", map[string]int{"n": 2})
	res := event.Status(200).Emit(toQueue, binary, notJSON, plain)
	before := time.Now().Add(-time.Second)
	ctx := tracectx.WithRemote(context.Background(), tp)
	if err := eff.Apply(ctx, "maker", &event.Event{ID: "req-1"}, res); err != nil {
		t.Fatal(err)
	}

	m := rec.msgs["queue/orders"][0]
	ce := readCloudEvent(t, m)
	if ce.ID() != "order-1-created" || ce.Source() != "function/maker" || ce.Type() != "com.example.created" ||
		ce.Subject() != "order-1" || ce.DataContentType() != "application/json" || string(ce.Data()) != `{"n":1}` ||
		ce.Time().Before(before) || ce.Time().After(time.Now()) {
		t.Fatalf("the envelope %s reads as %v", m.Data, ce)
	}
	want := map[string]any{"tenant": "acme", "region2": "eu", "traceparent": tp}
	if got := ce.Extensions(); len(got) != len(want) || got["tenant"] != "acme" || got["region2"] != "eu" || got["traceparent"] != tp {
		t.Fatalf("extensions %v, want %v (only valid names, reserved ones left out)", got, want)
	}
	// The broker's own fields carry the attributes as for any message.
	if m.ID != "order-1-created" || m.Type != "com.example.created" || m.Subject != "order-1" || m.Source != "function/maker" ||
		m.Headers["tenant"] != "acme" || m.Headers["Upper"] != "x" || m.Traceparent != tp || m.CorrelationID != "req-1" {
		t.Fatalf("message fields %+v", m)
	}

	blobs := rec.msgs["stream/blobs"]
	if ce := readCloudEvent(t, blobs[0]); string(ce.Data()) != "\x00\x01\xff" || ce.DataContentType() != "application/octet-stream" ||
		ce.ID() != "req-1/maker/1" || ce.Subject() != "" {
		t.Fatalf("binary data: %s reads as %v", blobs[0].Data, ce)
	}
	if ce := readCloudEvent(t, blobs[1]); string(ce.Data()) != "{not json" || !ce.DataBase64 {
		t.Fatalf("data that is not JSON: %s reads as %v", blobs[1].Data, ce)
	}
	if m := rec.msgs["stream/plain"][0]; m.ContentType != "application/json" || string(m.Data) != `{"n":2}` {
		t.Fatalf("a message without AsCloudEvent changed: %q %s", m.ContentType, m.Data)
	}
}

// A CloudEvent needs a type: the SDK says so when the message is made, and the gateway
// refuses the result before anything goes out.
func TestCloudEventWithoutType(t *testing.T) {
	m := event.ToQueue("q", "", 1).AsCloudEvent()
	if err := event.Status(200).Emit(m).Err(); err == nil {
		t.Fatal("a CloudEvent without a type was accepted by the SDK")
	}
	rec := &recorder{}
	res := &event.Result{Emitted: []event.Message{event.ToQueue("first", "T", 1), {Queue: true, Target: "q", CloudEvent: true}}}
	err := (&Effects{Queues: rec, Streams: rec}).Apply(context.Background(), "f", &event.Event{ID: "r"}, res)
	if !errors.Is(err, runtime.ErrInvalidEffect) || len(rec.msgs) != 0 {
		t.Fatalf("Apply = %v with %v published; want runtime.ErrInvalidEffect and nothing", err, rec.msgs)
	}
}

func TestValidExtensionName(t *testing.T) {
	for name, want := range map[string]bool{
		"tenant": true, "a": true, "x1": true, "abcdefghij0123456789": true,
		"": false, "abcdefghij01234567890": false, "Tenant": false, "data_base64": false, "a-b": false, "é": false,
	} {
		if got := validExtensionName(name); got != want {
			t.Errorf("validExtensionName(%q) = %v, want %v", name, got, want)
		}
	}
}
