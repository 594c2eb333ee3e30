package redis

import (
	"reflect"
	"testing"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

func TestDecode(t *testing.T) {
	const entryID = "1767225600123-0"
	entryTime := time.UnixMilli(1767225600123).UTC()
	stamp := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	tests := []struct {
		name   string
		fields map[string]any
		want   triggers.Message
	}{{
		name: "ours",
		fields: map[string]any{
			"id": "a1", "type": "OrderCreated", "source": "function/orders", "subject": "o-1",
			"time": "2026-03-04T05:06:07.890123456Z", "datacontenttype": "application/json",
			"data": `{"n":1}`, "correlationid": "c-1", "traceparent": "00-abc-def-01", "h-x-test": "yes",
		},
		want: triggers.Message{
			ID: "a1", Type: "OrderCreated", Source: "function/orders", Subject: "o-1", Time: stamp,
			ContentType: "application/json", Data: []byte(`{"n":1}`), CorrelationID: "c-1",
			Traceparent: "00-abc-def-01", Headers: map[string]string{"x-test": "yes"},
		},
	}, {
		name: "producer names, unix ms timestamp, unknown fields become headers",
		fields: map[string]any{
			"eventId": "e-7", "eventType": "Paid", "timestamp": "1767225600999",
			"correlationId": "c-7", "data": "plain", "tenant": "acme",
		},
		want: triggers.Message{
			ID: "e-7", Type: "Paid", Time: time.UnixMilli(1767225600999).UTC(), CorrelationID: "c-7",
			Data: []byte("plain"), Headers: map[string]string{"tenant": "acme"},
		},
	}, {
		name:   "producer timestamp in RFC 3339 without fractions",
		fields: map[string]any{"eventType": "Paid", "timestamp": "2026-03-04T05:06:07+01:00"},
		want: triggers.Message{
			ID: entryID, Type: "Paid", Time: time.Date(2026, 3, 4, 4, 6, 7, 0, time.UTC),
		},
	}, {
		name:   "no id, no time, no data: the entry ID stands in, data is empty",
		fields: map[string]any{"type": "Ping"},
		want:   triggers.Message{ID: entryID, Type: "Ping", Time: entryTime},
	}, {
		name: "our names win over producer names, which are kept as headers",
		fields: map[string]any{
			"id": "ours", "eventId": "theirs", "time": "2026-03-04T05:06:07.890123456Z",
			"timestamp": "1", "correlationid": "c", "correlationId": "d",
		},
		want: triggers.Message{
			ID: "ours", Time: stamp, CorrelationID: "c",
			Headers: map[string]string{"eventId": "theirs", "timestamp": "1", "correlationId": "d"},
		},
	}, {
		name:   "an unreadable time falls back to the entry time and is kept",
		fields: map[string]any{"id": "x", "time": "yesterday"},
		want:   triggers.Message{ID: "x", Time: entryTime, Headers: map[string]string{"time": "yesterday"}},
	}, {
		name:   "empty header name after the prefix is an ordinary field",
		fields: map[string]any{"id": "x", "h-": "v", "h-a": "1"},
		want:   triggers.Message{ID: "x", Time: entryTime, Headers: map[string]string{"h-": "v", "a": "1"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decode(entryID, tt.fields)
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("time %s, want %s", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if string(got.Data) != string(tt.want.Data) {
				t.Errorf("data %q, want %q", got.Data, tt.want.Data)
			}
			got.Data, tt.want.Data = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	m := triggers.Message{
		ID: "id-1", Type: "T", Source: "s", Subject: "sub",
		Time:        time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		ContentType: "text/plain", Data: []byte("hello"), CorrelationID: "c", Traceparent: "tp",
		Headers: map[string]string{"b": "2", "a": "1", "eventId": "not an alias here"},
	}
	fields := toMap(t, encode(&m))
	if _, ok := fields["replyto"]; ok {
		t.Error("encode wrote reply-to")
	}
	got := decode("1-0", fields)
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip\n %+v\nwant\n %+v", got, m)
	}
	// Empty attributes are left out, data is always there.
	fields = toMap(t, encode(&triggers.Message{ID: "x"}))
	if want := map[string]any{"id": "x", "data": []byte(nil)}; !reflect.DeepEqual(fields, want) {
		t.Fatalf("fields of a bare message %v, want %v", fields, want)
	}
}

func TestDeadFieldsAndRedrive(t *testing.T) {
	original := map[string]any{"eventType": "Paid", "data": "d", "tenant": "acme"}
	dead := toMap(t, deadFields(original, "1-0", "boom", 3))
	want := map[string]any{"eventType": "Paid", "data": "d", "tenant": "acme", "id": "1-0", "error": "boom", "attempts": "3"}
	if !reflect.DeepEqual(dead, want) {
		t.Fatalf("dead fields %v, want %v", dead, want)
	}
	dm := decodeDead("9-0", dead)
	if dm.ID != "1-0" || dm.Type != "Paid" || dm.Error != "boom" || dm.Attempts != 3 || dm.Headers["tenant"] != "acme" {
		t.Fatalf("dead message %+v", dm)
	}
	if _, ok := dm.Headers["error"]; ok {
		t.Fatal("the error became a header")
	}
	back := toMap(t, redriveFields(dead))
	if want := map[string]any{"eventType": "Paid", "data": "d", "tenant": "acme", "id": "1-0"}; !reflect.DeepEqual(back, want) {
		t.Fatalf("redriven fields %v, want %v", back, want)
	}
	// A second dead-lettering replaces error and attempts instead of repeating them.
	again := deadFields(dead, "1-0", "again", 1)
	if len(again) != 2*6 {
		t.Fatalf("dead-lettered twice: %v", again)
	}
}

func toMap(t *testing.T, pairs []any) map[string]any {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("odd field list %v", pairs)
	}
	m := map[string]any{}
	for i := 0; i < len(pairs); i += 2 {
		name := pairs[i].(string)
		if _, dup := m[name]; dup {
			t.Fatalf("field %q twice in %v", name, pairs)
		}
		m[name] = pairs[i+1]
	}
	return m
}
