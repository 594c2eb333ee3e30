package redis

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode feeds stream entries of arbitrary field names and values (as another producer may
// write them) to decode and decodeDead: they never panic, always give the message an ID, keep
// the data, keep unknown fields as headers, and what encode writes decodes to the same message.
func FuzzDecode(f *testing.F) {
	f.Add("1700000000000-0", "id", "e1", "time", "2024-01-02T03:04:05Z", "data", `{"a":1}`)
	f.Add("1-1", "eventId", "x", "timestamp", "1700000000000", "h-", "v")
	f.Add("garbage", "time", "not a time", "eventType", "t", "type", "u")
	f.Add("", "attempts", "99999999999999999999", "error", "\xff\xfe", "data", "\x00")
	f.Add("99999999999999999999-0", "h-x-y", "\r\n", "correlationId", "c", "correlationid", "d")
	f.Fuzz(func(t *testing.T, entryID, k1, v1, k2, v2, k3, v3 string) {
		fields := map[string]any{k1: v1, k2: []byte(v2), k3: v3}
		m := decode(entryID, fields)
		if m.ID == "" && entryID != "" {
			t.Fatalf("no ID from entry %q fields %q", entryID, fields)
		}
		if d, ok := fields[fieldData]; ok && string(m.Data) != str(d) {
			t.Fatalf("data %q, want %q", m.Data, str(d))
		}
		for name := range fields {
			known := name == fieldData || name == fieldID || name == fieldType || name == fieldSource ||
				name == fieldSubject || name == fieldTime || name == fieldContentType ||
				name == fieldCorrelationID || name == fieldTraceparent || strings.HasPrefix(name, headerPrefix)
			for _, a := range aliasNames {
				known = known || name == a
			}
			if _, kept := m.Headers[name]; !known && !kept {
				t.Fatalf("unknown field %q lost: headers %q", name, m.Headers)
			}
		}
		dm := decodeDead(entryID, fields)
		if dm.Attempts < 0 && !strings.HasPrefix(str(fields[fieldAttempts]), "-") {
			t.Fatalf("attempts %d from %q", dm.Attempts, fields[fieldAttempts])
		}

		// A message of ours round-trips.
		if !utf8.ValidString(v1) {
			return
		}
		m.Headers = map[string]string{"k": v1}
		m.Traceparent, m.Source = v2, v3
		fill(&m) // as Publish does
		enc := encode(&m)
		back := map[string]any{}
		for i := 0; i+1 < len(enc); i += 2 {
			back[enc[i].(string)] = enc[i+1]
		}
		got := decode("0-0", back)
		if got.ID != m.ID || string(got.Data) != string(m.Data) || got.Headers["k"] != v1 || got.Traceparent != v2 ||
			got.Source != v3 || got.Type != m.Type {
			t.Fatalf("round trip: %+v, want %+v", got, m)
		}
	})
}
