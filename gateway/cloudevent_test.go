package gateway

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

var received = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// httpEvent is the event the gateway makes of a request with these headers (canonical names),
// before it looks for a CloudEvent.
func httpEvent(contentType, body string, headers ...string) *event.Event {
	h := map[string]string{"Host": "example.com"}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	ev := &event.Event{ID: "rid", Source: "http", Time: received, ContentType: contentType, Headers: h,
		Method: "POST", Path: "/p"}
	if body != "" {
		ev.Data = []byte(body)
	}
	return ev
}

func TestIsCloudEvent(t *testing.T) {
	for _, tt := range []struct {
		ev   *event.Event
		want bool
	}{
		{httpEvent("application/json", `{}`), false},
		{httpEvent("", ""), false},
		{httpEvent("application/cloudevents+json", `{}`), true},
		{httpEvent("Application/CloudEvents+JSON; charset=utf-8", `{}`), true},
		{httpEvent("application/cloudevents+json ;charset=utf-8", `{}`), true},
		{httpEvent("application/cloudevents+jsonx", `{}`), false},
		{httpEvent("application/cloudevents-batch+json", `[]`), false},
		{httpEvent("application/cloudevents", `{}`), false},
		{httpEvent("text/plain", "x", "Ce-Specversion", "1.0"), true},
		{httpEvent("text/plain", "x", "Ce-Specversion", ""), true},
		{httpEvent("text/plain", "x", "Ce-Id", "1", "Ce-Type", "t"), false},
	} {
		if got := isCloudEvent(tt.ev); got != tt.want {
			t.Errorf("isCloudEvent(%q, %v) = %v, want %v", tt.ev.ContentType, tt.ev.Headers, got, tt.want)
		}
	}
}

// ceWant is what a function sees of a CloudEvent.
type ceWant struct {
	ID, Type, Source, Subject string
	Time                      time.Time
	Data                      string
	ContentType               string
	Headers                   map[string]string // the headers that must be there, with these values
}

func TestReadCloudEvent(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	binary := func(ct, body string, extra ...string) *event.Event {
		return httpEvent(ct, body, append([]string{"Ce-Specversion", "1.0", "Ce-Id", "e1",
			"Ce-Source", "/orders", "Ce-Type", "com.example.created"}, extra...)...)
	}
	structured := func(body string) *event.Event { return httpEvent("application/cloudevents+json", body) }
	const base = `"specversion":"1.0","id":"e1","source":"/orders","type":"com.example.created"`
	for _, tt := range []struct {
		name string
		ev   *event.Event
		want ceWant
	}{
		{"binary, every attribute", binary("application/json", `{"n":1}`, "Ce-Subject", "order-1",
			"Ce-Time", "2026-05-06T09:08:09.123456789+02:00", "Ce-Tenant", "acme"),
			ceWant{"e1", "com.example.created", "/orders", "order-1", at, `{"n":1}`, "application/json",
				map[string]string{"Ce-Tenant": "acme"}}},
		{"binary, only the required attributes", binary("", ""),
			ceWant{ID: "e1", Type: "com.example.created", Source: "/orders", Time: received}},
		{"binary, percent-encoded values", binary("text/plain", "hi", "Ce-Subject", "caf%C3%A9%20au%20lait",
			"Ce-Tenant", "a%25b", "Ce-Raw", "100%"),
			ceWant{"e1", "com.example.created", "/orders", "café au lait", received, "hi", "text/plain",
				map[string]string{"Ce-Tenant": "a%b", "Ce-Raw": "100%"}}},
		{"structured, JSON data", structured(`{` + base + `,"subject":"order-1","time":"2026-05-06T07:08:09.123456789Z",` +
			`"datacontenttype":"application/json","tenant":"acme","count":3,"vip":true,"data":{"n": 1}}`),
			ceWant{"e1", "com.example.created", "/orders", "order-1", at, `{"n": 1}`, "application/json",
				map[string]string{"Ce-Tenant": "acme", "Ce-Count": "3", "Ce-Vip": "true"}}},
		{"structured, data without datacontenttype is JSON", structured(`{` + base + `,"data":"text"}`),
			ceWant{"e1", "com.example.created", "/orders", "", received, `"text"`, "application/json", nil}},
		{"structured, a +json type keeps a string as JSON", structured(`{` + base + `,"datacontenttype":"application/vnd.x+json","data":"s"}`),
			ceWant{"e1", "com.example.created", "/orders", "", received, `"s"`, "application/vnd.x+json", nil}},
		{"structured, string data of another type", structured(`{` + base + `,"datacontenttype":"text/plain","data":"héllo\n"}`),
			ceWant{"e1", "com.example.created", "/orders", "", received, "héllo\n", "text/plain", nil}},
		{"structured, data_base64", structured(`{` + base + `,"datacontenttype":"application/octet-stream","data_base64":"AAEC/w=="}`),
			ceWant{"e1", "com.example.created", "/orders", "", received, "\x00\x01\x02\xff", "application/octet-stream", nil}},
		{"structured, no data", structured(`{` + base + `}`),
			ceWant{ID: "e1", Type: "com.example.created", Source: "/orders", Time: received}},
		{"structured, null members are absent", structured(`{` + base + `,"subject":null,"data":null,"data_base64":"AA==","tenant":null}`),
			ceWant{"e1", "com.example.created", "/orders", "", received, "\x00", "", nil}},
		{"structured, dataschema joins the headers", structured(`{` + base + `,"dataschema":"https://s.example/v1"}`),
			ceWant{ID: "e1", Type: "com.example.created", Source: "/orders", Time: received,
				Headers: map[string]string{"Ce-Dataschema": "https://s.example/v1"}}},
		{"structured, with a charset parameter", httpEvent("application/cloudevents+json; charset=UTF-8", `{`+base+`,"data":[1,2]}`),
			ceWant{"e1", "com.example.created", "/orders", "", received, `[1,2]`, "application/json", nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			if !isCloudEvent(ev) {
				t.Fatal("not taken for a CloudEvent")
			}
			if err := readCloudEvent(ev); err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if ev.ID != w.ID || ev.Type != w.Type || ev.Source != w.Source || ev.Subject != w.Subject ||
				!ev.Time.Equal(w.Time) || string(ev.Data) != w.Data || ev.ContentType != w.ContentType {
				t.Errorf("got id %q type %q source %q subject %q time %v data %q content type %q\nwant %+v",
					ev.ID, ev.Type, ev.Source, ev.Subject, ev.Time, ev.Data, ev.ContentType, w)
			}
			for k, v := range w.Headers {
				if ev.Headers[k] != v {
					t.Errorf("header %s = %q, want %q (headers %v)", k, ev.Headers[k], v, ev.Headers)
				}
			}
			if ev.Method != "POST" || ev.Path != "/p" || ev.Headers["Host"] != "example.com" {
				t.Errorf("the HTTP side of the event changed: %s %s %v", ev.Method, ev.Path, ev.Headers)
			}
		})
	}
}

func TestReadCloudEventRefusesMalformed(t *testing.T) {
	binary := func(pairs ...string) *event.Event {
		h := map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "e1", "Ce-Source": "/s", "Ce-Type": "t"}
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i+1] == "<none>" {
				delete(h, pairs[i])
			} else {
				h[pairs[i]] = pairs[i+1]
			}
		}
		ev := httpEvent("text/plain", "x")
		maps.Copy(ev.Headers, h)
		return ev
	}
	structured := func(body string) *event.Event { return httpEvent("application/cloudevents+json", body) }
	const base = `"specversion":"1.0","id":"e1","source":"/s","type":"t"`
	for _, tt := range []struct {
		name   string
		ev     *event.Event
		reason string
	}{
		{"binary, another specversion", binary("Ce-Specversion", "0.3"), `ce-specversion "0.3" is not supported; only 1.0 is`},
		{"binary, empty specversion", binary("Ce-Specversion", ""), `ce-specversion "" is not supported`},
		{"binary, no id", binary("Ce-Id", "<none>"), "missing required attribute header ce-id"},
		{"binary, empty source", binary("Ce-Source", ""), "missing required attribute header ce-source"},
		{"binary, no id, source or type", binary("Ce-Id", "<none>", "Ce-Source", "<none>", "Ce-Type", "<none>"),
			"missing required attribute header ce-id, ce-source, ce-type"},
		{"binary, bad time", binary("Ce-Time", "yesterday"), `ce-time: "yesterday" is not an RFC 3339 timestamp`},
		{"binary, time without a zone", binary("Ce-Time", "2026-05-06T07:08:09"), "ce-time:"},
		{"structured, empty body", structured(""), "must be a JSON object"},
		{"structured, an array", structured(`[{` + base + `}]`), "must be a JSON object"},
		{"structured, a string", structured(`"x"`), "must be a JSON object"},
		{"structured, null", structured(`null`), "must be a JSON object"},
		{"structured, truncated", structured(`{` + base), "must be a JSON object"},
		{"structured, trailing garbage", structured(`{` + base + `}x`), "must be a JSON object"},
		{"structured, no specversion", structured(`{"id":"e1","source":"/s","type":"t"}`), "missing required attribute specversion"},
		{"structured, another specversion", structured(`{"specversion":"0.3","id":"e1","source":"/s","type":"t"}`), `specversion "0.3" is not supported`},
		{"structured, numeric specversion", structured(`{"specversion":1.0,"id":"e1","source":"/s","type":"t"}`), "attribute specversion must be a string"},
		{"structured, no id, source or type", structured(`{"specversion":"1.0"}`), "missing required attribute id, source, type"},
		{"structured, empty type", structured(`{"specversion":"1.0","id":"e1","source":"/s","type":""}`), "missing required attribute type"},
		{"structured, numeric id", structured(`{"specversion":"1.0","id":7,"source":"/s","type":"t"}`), "attribute id must be a string"},
		{"structured, bad time", structured(`{` + base + `,"time":"2026-13-01T00:00:00Z"}`), `time: "2026-13-01T00:00:00Z" is not an RFC 3339 timestamp`},
		{"structured, numeric time", structured(`{` + base + `,"time":1700000000}`), "attribute time must be a string"},
		{"structured, data and data_base64", structured(`{` + base + `,"data":{},"data_base64":"AA=="}`), "data or data_base64, not both"},
		{"structured, data_base64 not base64", structured(`{` + base + `,"data_base64":"not base64!"}`), "data_base64 is not base64"},
		{"structured, data_base64 not a string", structured(`{` + base + `,"data_base64":[1]}`), "data_base64 must be a string"},
		{"structured, an object extension", structured(`{` + base + `,"tenant":{"a":1}}`), "extension tenant: must be a string, a number or a boolean"},
		{"structured, an upper-case name", structured(`{` + base + `,"Tenant":"a"}`), `attribute name "Tenant" is not lower-case letters and digits`},
		{"structured, an empty name", structured(`{` + base + `,"":"a"}`), `attribute name "" is not`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !isCloudEvent(tt.ev) {
				t.Fatal("not taken for a CloudEvent")
			}
			err := readCloudEvent(tt.ev)
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("error %v, want one containing %q", err, tt.reason)
			}
		})
	}
}

// FuzzReadCloudEvent: whatever the body, structured mode answers an error or an event with
// its required attributes; it never panics.
func FuzzReadCloudEvent(f *testing.F) {
	for _, s := range []string{
		`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":[1,2]}}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data":"x"}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AA=="}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","x":1e400}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data":1}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":";;","data":"\ud800"}`,
		`{}`, `[]`, `null`, ``, `{"data":null}`, "{\"id\":\"\xff\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		ev := httpEvent("application/cloudevents+json", body)
		if err := readCloudEvent(ev); err != nil {
			return
		}
		if ev.ID == "" || ev.Source == "" || ev.Type == "" {
			t.Fatalf("%q read without its required attributes: %+v", body, ev)
		}
	})
}

// BenchmarkIsCloudEvent is what the CloudEvents check adds to a request that is not one.
func BenchmarkIsCloudEvent(b *testing.B) {
	ev := httpEvent("application/json", `{"n":1}`, "User-Agent", "bench", "Accept", "*/*",
		"Accept-Encoding", "gzip", "Content-Length", "7", "X-Request-Id", "0123456789abcdef",
		"Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	b.ReportAllocs()
	for b.Loop() {
		if isCloudEvent(ev) {
			b.Fatal("a plain request taken for a CloudEvent")
		}
	}
}
