package redis

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/triggers"
)

// Stream entry field names (docs/events.md); doc.go has the whole mapping.
const (
	fieldID            = "id"
	fieldType          = "type"
	fieldSource        = "source"
	fieldSubject       = "subject"
	fieldTime          = "time"
	fieldContentType   = "datacontenttype"
	fieldData          = "data"
	fieldCorrelationID = "correlationid"
	fieldTraceparent   = "traceparent"
	headerPrefix       = "h-"

	// Added to dead-lettered entries.
	fieldError    = "error"
	fieldAttempts = "attempts"

	// Names that other producers use for the same attributes.
	aliasID            = "eventId"
	aliasType          = "eventType"
	aliasTime          = "timestamp"
	aliasCorrelationID = "correlationId"
)

var aliasNames = [...]string{aliasID, aliasType, aliasTime, aliasCorrelationID}

// fill sets the ID and Time a publisher owes a message that lacks them.
func fill(m *triggers.Message) {
	if m.ID == "" {
		m.ID = id.New()
	}
	if m.Time.IsZero() {
		m.Time = time.Now().UTC()
	}
}

// encode returns m's stream entry fields as alternating names and values, data last.
func encode(m *triggers.Message) []any {
	out := make([]any, 0, 2*(9+len(m.Headers)))
	add := func(name, value string) {
		if value != "" {
			out = append(out, name, value)
		}
	}
	add(fieldID, m.ID)
	add(fieldType, m.Type)
	add(fieldSource, m.Source)
	add(fieldSubject, m.Subject)
	if !m.Time.IsZero() {
		out = append(out, fieldTime, m.Time.UTC().Format(time.RFC3339Nano))
	}
	add(fieldContentType, m.ContentType)
	add(fieldCorrelationID, m.CorrelationID)
	add(fieldTraceparent, m.Traceparent)
	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		if name != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, headerPrefix+name, m.Headers[name])
	}
	return append(out, fieldData, m.Data)
}

// decode reads a stream entry, ours or another producer's, into a message. entryID is the
// entry's stream ID, which stands in for a missing id and time.
func decode(entryID string, fields map[string]any) triggers.Message {
	var m triggers.Message
	var timeValue, timeField string
	// Values of the producer names, in the order of aliasNames; set: which were present.
	var aliases [len(aliasNames)]string
	var set [len(aliasNames)]bool
	setHeader := func(name, value string) {
		if m.Headers == nil {
			m.Headers = map[string]string{}
		}
		m.Headers[name] = value
	}
	for name, v := range fields {
		value := str(v)
		switch name {
		case fieldID:
			m.ID = value
		case fieldType:
			m.Type = value
		case fieldSource:
			m.Source = value
		case fieldSubject:
			m.Subject = value
		case fieldTime:
			timeValue, timeField = value, name
		case fieldContentType:
			m.ContentType = value
		case fieldData:
			m.Data = []byte(value)
		case fieldCorrelationID:
			m.CorrelationID = value
		case fieldTraceparent:
			m.Traceparent = value
		case aliasID, aliasType, aliasTime, aliasCorrelationID:
			i := slices.Index(aliasNames[:], name)
			aliases[i], set[i] = value, true
		default:
			if h, ok := strings.CutPrefix(name, headerPrefix); ok && h != "" {
				setHeader(h, value)
			} else {
				setHeader(name, value)
			}
		}
	}
	// A producer name stands in for a missing attribute; otherwise it is kept as a header.
	for i, name := range aliasNames {
		if !set[i] {
			continue
		}
		var dst *string
		switch name {
		case aliasID:
			dst = &m.ID
		case aliasType:
			dst = &m.Type
		case aliasCorrelationID:
			dst = &m.CorrelationID
		case aliasTime:
			dst = &timeValue
			if timeValue == "" {
				timeField = name
			}
		}
		if *dst == "" {
			*dst = aliases[i]
		} else {
			setHeader(name, aliases[i])
		}
	}
	if m.ID == "" {
		m.ID = entryID
	}
	if t, ok := parseTime(timeValue); ok {
		m.Time = t
	} else {
		if timeValue != "" {
			setHeader(timeField, timeValue) // unreadable: keep it rather than lose it
		}
		m.Time = entryTime(entryID)
	}
	return m
}

// decodeDead reads a dead-lettered entry: the message, and the error and attempts that
// DeadLetter added.
func decodeDead(entryID string, fields map[string]any) triggers.DeadMessage {
	rest := make(map[string]any, len(fields))
	var dm triggers.DeadMessage
	for name, v := range fields {
		switch name {
		case fieldError:
			dm.Error = str(v)
		case fieldAttempts:
			dm.Attempts, _ = strconv.Atoi(str(v))
		default:
			rest[name] = v
		}
	}
	dm.Message = decode(entryID, rest)
	return dm
}

// deadFields returns the fields of a dead-lettered entry: the original ones, an id when they
// had none, the reason and the attempts.
func deadFields(original map[string]any, id, reason string, attempts int) []any {
	out := sortedFields(original, fieldError, fieldAttempts)
	if _, ok := original[fieldID]; !ok {
		out = append(out, fieldID, id)
	}
	return append(out, fieldError, reason, fieldAttempts, strconv.Itoa(attempts))
}

// redriveFields returns a dead-lettered entry's fields without what DeadLetter added.
func redriveFields(dead map[string]any) []any {
	return sortedFields(dead, fieldError, fieldAttempts)
}

// sortedFields returns fields as alternating names and values in name order (data last, as
// encode writes it), leaving out the names in skip.
func sortedFields(fields map[string]any, skip ...string) []any {
	names := make([]string, 0, len(fields))
	for name := range fields {
		if name != fieldData && !contains(skip, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]any, 0, 2*len(fields)+6)
	for _, name := range names {
		out = append(out, name, str(fields[name]))
	}
	if data, ok := fields[fieldData]; ok {
		out = append(out, fieldData, str(data))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseTime reads RFC 3339 (with or without fractions) or unix milliseconds.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if isDigits(s) {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.UnixMilli(ms).UTC(), true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// entryTime returns the time a stream entry ID ("<unix ms>-<seq>") records, or zero.
func entryTime(entryID string) time.Time {
	ms, _, _ := strings.Cut(entryID, "-")
	if !isDigits(ms) {
		return time.Time{}
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// str renders a field value as go-redis returns it (a string) or as a test builds it.
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}
