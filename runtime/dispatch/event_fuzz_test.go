package dispatch

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/filter"
	"github.com/edgefn/edgefn/triggers"
)

// FuzzEventDecoding feeds deliveries with arbitrary data and content types through the docs/events.md
// event decoding (toEvent, then filterEnv as filters see it, then a filter): it never panics;
// data is decoded JSON exactly when it is valid JSON that looks like JSON, else the string
// (deeply nested JSON included: encoding/json refuses it and the string stays); and evaluating a
// filter on any of it gives a result or an error, never a crash.
func FuzzEventDecoding(f *testing.F) {
	f.Add([]byte(`{"amount":100,"status":"paid"}`), "application/json", "orders.paid")
	f.Add([]byte(`[1,2,3]`), "", "t")
	f.Add([]byte(`"\xff"`), "", "")
	f.Add([]byte("\xff\xfe not json"), "application/json", "x")
	f.Add([]byte(strings.Repeat("[", 20000)+strings.Repeat("]", 20000)), "application/json", "deep")
	f.Add([]byte(strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000)), "", "deep")
	f.Add([]byte(`{"amount":"1e400"}`), "text/plain", "")
	filters := make([]*filter.Filter, 0, 3)
	for _, src := range []string{`event.data.amount > 10`, `event.type == "orders.paid" && event.attempt < 3`,
		`event.data.status in ["paid", "shipped"] || event.headers["x"] == "y"`} {
		fl, err := filter.Compile(src)
		if err != nil {
			f.Fatal(err)
		}
		filters = append(filters, fl)
	}
	f.Fuzz(func(t *testing.T, data []byte, contentType, typ string) {
		d := &triggers.Delivery{Message: triggers.Message{
			ID: "e1", Type: typ, Data: data, ContentType: contentType, Time: time.Unix(1, 0),
			Headers: map[string]string{"x": typ},
		}, Attempt: 1}
		ev := toEvent(d, "stream/s")
		if !bytes.Equal(ev.Data, data) || ev.Type != typ || ev.Headers == nil {
			t.Fatalf("event %+v does not carry the delivery", ev)
		}
		env := filterEnv(ev)
		var want any
		if looksJSON(contentType, data) && json.Unmarshal(data, &want) == nil {
			if !reflect.DeepEqual(env.Data, want) {
				t.Fatalf("data %#v, want the decoded %#v", env.Data, want)
			}
		} else if s, ok := env.Data.(string); !ok || s != string(data) {
			t.Fatalf("data %#v, want the string %q", env.Data, data)
		}
		for _, fl := range filters {
			_, _ = fl.Match(env)
		}
	})
}
