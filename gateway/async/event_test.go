package async

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// A queued call comes back as the function would have seen it synchronously, with the
// attributes of a CloudEvent request (docs/http.md#cloudevents) too.
func TestQueuedEventRoundTrip(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123, time.UTC)
	for _, ev := range []*event.Event{
		{ID: "rid", Source: "http", Time: at, Data: []byte(`{"a":1}`), ContentType: "application/json",
			Headers: map[string]string{"X-A": "1"}, Method: "POST", Path: "/p", Params: map[string]string{"x": "y"},
			Query: url.Values{"q": {"1"}}, Claims: map[string]any{"sub": "u"}},
		{ID: "ce-1", Type: "com.example.created", Source: "/orders", Subject: "order-1", Time: at,
			Data: []byte("hi"), ContentType: "text/plain", Headers: map[string]string{"Ce-Tenant": "acme"},
			Method: "POST", Path: "/p"},
	} {
		b, err := encodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEvent(b, "corr", 2)
		if err != nil {
			t.Fatal(err)
		}
		want := *ev
		want.CorrelationID, want.Attempt = "corr", 2
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("queued %s came back as\n%+v\nwant\n%+v", b, got, &want)
		}
	}
	// What an older gateway queued has no source: it was an HTTP call.
	got, err := decodeEvent([]byte(`{"id":"old","time":"2026-05-06T07:08:09Z","method":"GET","path":"/"}`), "c", 1)
	if err != nil || got.Source != "http" || got.Type != "" {
		t.Fatalf("an event queued without a source: %+v, %v", got, err)
	}
}
