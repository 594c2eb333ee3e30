package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	amqp091 "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"
)

// ceManifest binds testfn to /t/{op}: op event answers what the function saw
// (docs/http.md#cloudevents), op emit-ce emits CloudEvents (docs/events.md#cloudevents).
const ceManifest = `
name: ce
handler: {{testfn}}
triggers:
  - http: {method: POST, path: "/t/{op}"}
`

// seenEvent is what testfn's op event answers: the event the function saw.
type seenEvent struct {
	ID, Type, Source, Subject, Time, ContentType, Method, Path, CorrelationID string
	Data                                                                      []byte
	Headers, Params                                                           map[string]string
}

var ceTime = time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)

// newCloudEvent is an event with every attribute set, and data.
func newCloudEvent(t *testing.T, id, contentType string, data any) cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType("com.example.order.created")
	e.SetSource("/orders/e2e")
	e.SetSubject("order-42")
	e.SetTime(ceTime)
	e.SetExtension("tenant", "acme")
	if err := e.SetData(contentType, data); err != nil {
		t.Fatal(err)
	}
	return e
}

// checkSeen fails t unless the function saw the attributes and data of sent.
func checkSeen(t *testing.T, got seenEvent, sent cloudevents.Event, wantData string) {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, got.Time)
	if err != nil || !at.Equal(ceTime) || got.ID != sent.ID() || got.Type != sent.Type() || got.Source != sent.Source() ||
		got.Subject != sent.Subject() || got.ContentType != sent.DataContentType() || string(got.Data) != wantData ||
		got.Headers["Ce-Tenant"] != "acme" || got.Method != "POST" || got.Path != "/t/event" || got.Params["op"] != "event" {
		t.Fatalf("the function saw %+v (data %q)\nwant the attributes of %v", got, got.Data, sent)
	}
}

func TestCloudEventsIn(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, ceManifest))
	client, err := cloudevents.NewClientHTTP()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name        string
		structured  bool
		contentType string
		data        any
		want        string
	}{
		{"binary, JSON", false, "application/json", map[string]int{"n": 42}, `{"n":42}`},
		{"binary, bytes", false, "application/octet-stream", []byte{0, 1, 0xfe, 0xff}, "\x00\x01\xfe\xff"},
		{"structured, JSON", true, "application/json", map[string]int{"n": 42}, `{"n":42}`},
		{"structured, text", true, "text/plain", "héllo, world", "héllo, world"},
		{"structured, data_base64", true, "application/octet-stream", []byte{0, 1, 0xfe, 0xff}, "\x00\x01\xfe\xff"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ctx = cloudevents.ContextWithTarget(ctx, g.URL+"/t/event")
			if tt.structured {
				ctx = cloudevents.WithEncodingStructured(ctx)
			} else {
				ctx = cloudevents.WithEncodingBinary(ctx)
			}
			sent := newCloudEvent(t, "ce-"+strings.ReplaceAll(tt.name, " ", ""), tt.contentType, tt.data)
			reply, res := client.Request(ctx, sent)
			if !cloudevents.IsACK(res) || reply == nil {
				t.Fatalf("request: %v, reply %v", res, reply)
			}
			var got seenEvent
			if err := reply.DataAs(&got); err != nil {
				t.Fatalf("reply data %s: %v", reply.Data(), err)
			}
			checkSeen(t, got, sent, tt.want)
		})
	}
}

func TestCloudEventsMalformed(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, ceManifest))
	binary := []string{"Content-Type", "text/plain", "ce-specversion", "1.0", "ce-id", "1", "ce-source", "/s", "ce-type", "t"}
	without := func(name string) []string {
		var out []string
		for i := 0; i < len(binary); i += 2 {
			if binary[i] != name {
				out = append(out, binary[i], binary[i+1])
			}
		}
		return out
	}
	structured := []string{"Content-Type", "application/cloudevents+json"}
	const base = `"specversion":"1.0","id":"1","source":"/s","type":"t"`
	for _, tt := range []struct {
		name    string
		headers []string
		body    string
		reason  string
	}{
		{"binary, specversion 0.3", append(without("ce-specversion"), "ce-specversion", "0.3"), "x", `ce-specversion \"0.3\" is not supported; only 1.0 is`},
		{"binary, no id", without("ce-id"), "x", "missing required attribute header ce-id"},
		{"binary, no source", without("ce-source"), "x", "missing required attribute header ce-source"},
		{"binary, no type", without("ce-type"), "x", "missing required attribute header ce-type"},
		{"binary, bad time", append(binary, "ce-time", "yesterday"), "x", `ce-time: \"yesterday\" is not an RFC 3339 timestamp`},
		{"structured, not an object", structured, `[1,2]`, "the body of an application/cloudevents+json request must be a JSON object"},
		{"structured, not JSON", structured, `{"specversion":`, "must be a JSON object"},
		{"structured, no specversion", structured, `{"id":"1","source":"/s","type":"t"}`, "missing required attribute specversion"},
		{"structured, no id", structured, `{"specversion":"1.0","source":"/s","type":"t"}`, "missing required attribute id"},
		{"structured, no source", structured, `{"specversion":"1.0","id":"1","type":"t"}`, "missing required attribute source"},
		{"structured, no type", structured, `{"specversion":"1.0","id":"1","source":"/s"}`, "missing required attribute type"},
		{"structured, specversion 0.3", structured, `{"specversion":"0.3","id":"1","source":"/s","type":"t"}`, `specversion \"0.3\" is not supported`},
		{"structured, bad time", structured, `{` + base + `,"time":"2026-02-30T00:00:00Z"}`, "time: "},
		{"structured, data_base64 not base64", structured, `{` + base + `,"data_base64":"%%%"}`, "data_base64 is not base64"},
		{"structured, data and data_base64", structured, `{` + base + `,"data":1,"data_base64":"AA=="}`, "an event has data or data_base64, not both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "POST", g.URL+"/t/event", []byte(tt.body), tt.headers...)
			if r.Status != 400 || !strings.Contains(string(r.Body), `"code":"bad_cloudevent","message":"malformed CloudEvent: `) ||
				!strings.Contains(string(r.Body), tt.reason) {
				t.Fatalf("%d %s; want 400 bad_cloudevent saying %s", r.Status, r.Body, tt.reason)
			}
		})
	}
	// A request that is no CloudEvent is not read as one.
	if r := do(t, "POST", g.URL+"/t/event", []byte(`{"a":1}`), "Content-Type", "application/json", "ce-id", "x"); r.Status != 200 ||
		!strings.Contains(string(r.Body), `"source":"http"`) {
		t.Fatalf("a plain request: %d %s", r.Status, r.Body)
	}
}

// An async CloudEvent call carries its attributes across the queue.
func TestCloudEventsAsync(t *testing.T) {
	eachBackend(t, func(t *testing.T, args []string) {
		g := startGateway(t, "", append(args, "--manifests", writeManifest(t, ceManifest))...)
		for _, structured := range []bool{false, true} {
			sent := newCloudEvent(t, fmt.Sprintf("ce-async-%v", structured), "application/json", map[string]int{"n": 7})
			ctx := context.Background()
			if structured {
				ctx = binding.WithForceStructured(ctx)
			} else {
				ctx = binding.WithForceBinary(ctx)
			}
			req, err := http.NewRequestWithContext(ctx, "POST", g.URL+"/t/event", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cehttp.WriteRequest(ctx, binding.ToMessage(&sent), req); err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Prefer", "respond-async")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var a accepted
			if err := json.Unmarshal(body, &a); resp.StatusCode != 202 || err != nil {
				t.Fatalf("structured %v: %d %s", structured, resp.StatusCode, body)
			}
			r := do(t, "GET", g.URL+"/requests/"+a.ID+"?wait=20s", nil)
			var got seenEvent
			if r.Status != 200 {
				t.Fatalf("structured %v: reply %d %s", structured, r.Status, r.Body)
			}
			r.JSON(t, &got)
			checkSeen(t, got, sent, `{"n":7}`)
			if got.CorrelationID != a.ID {
				t.Fatalf("correlation ID %q, want the request's %q", got.CorrelationID, a.ID)
			}
		}
	})
}

// A function that emits with AsCloudEvent puts a structured-mode CloudEvent on a RabbitMQ
// queue and a Redis stream, which plain clients of the brokers read.
func TestEmitCloudEventsToBrokers(t *testing.T) {
	rURL, aURL := redisURL(t), amqpURL(t)
	g := startGateway(t, "", "--redis", rURL, "--amqp", aURL, "--manifests", writeManifest(t, ceManifest))
	queue, stream := uniqueName("ce-q"), uniqueName("ce-s")
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	conn, err := amqp091.Dial(aURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := goredis.ParseURL(rURL)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(queue, false, false, false)
		rdb.Del(context.Background(), stream)
	})

	r := do(t, "POST", g.URL+"/t/emit-ce", []byte(`{"stream":"`+stream+`","queue":"`+queue+`"}`),
		"X-Request-ID", "req-ce-1", "X-Tenant", "acme", "Traceparent", tp)
	if r.Status != 202 {
		t.Fatalf("emit: %d %s", r.Status, r.Body)
	}
	// The effects went out before the answer: both are there now.
	d, ok, err := ch.Get(queue, true)
	if err != nil || !ok {
		t.Fatalf("get from %s: %v, %v", queue, ok, err)
	}
	if d.ContentType != "application/cloudevents+json" || d.MessageId != "req-ce-1/ce/1" || d.Type != "com.example.queue" ||
		d.Headers["subject"] != "q-1" || d.Headers["tenant"] != "acme" {
		t.Fatalf("AMQP properties %+v", d)
	}
	checkEmitted(t, "queue", d.Body, "req-ce-1/ce/1", "com.example.queue", "q-1", tp)

	entries, err := rdb.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("XRANGE %s: %v, %v", stream, entries, err)
	}
	f := entries[0].Values
	if f["datacontenttype"] != "application/cloudevents+json" || f["id"] != "req-ce-1/ce/0" || f["type"] != "com.example.stream" ||
		f["subject"] != "s-1" || f["h-tenant"] != "acme" {
		t.Fatalf("stream fields %v", f)
	}
	data, _ := f["data"].(string)
	checkEmitted(t, "stream", []byte(data), "req-ce-1/ce/0", "com.example.stream", "s-1", tp)
}

// checkEmitted decodes body with the CloudEvents SDK and checks what testfn's emit-ce sent.
func checkEmitted(t *testing.T, where string, body []byte, id, typ, subject, traceparent string) {
	t.Helper()
	var e cloudevents.Event
	if err := e.UnmarshalJSON(body); err != nil {
		t.Fatalf("%s: %s: %v", where, body, err)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("%s: %s: %v", where, body, err)
	}
	var data struct{ From string }
	tid := func(tp string) string { return strings.Split(tp, "-")[1] }
	ext := e.Extensions()
	gotTP, _ := ext["traceparent"].(string)
	if e.SpecVersion() != "1.0" || e.ID() != id || e.Source() != "function/ce" || e.Type() != typ || e.Subject() != subject ||
		e.DataContentType() != "application/json" || time.Since(e.Time()) > time.Minute || ext["tenant"] != "acme" ||
		!strings.HasPrefix(gotTP, "00-") || tid(gotTP) != tid(traceparent) ||
		e.DataAs(&data) != nil || data.From != "req-ce-1" || !bytes.Contains(body, []byte(`"data":{"from":"req-ce-1"}`)) {
		t.Fatalf("%s: the CloudEvent %s reads as %v", where, body, e)
	}
}
