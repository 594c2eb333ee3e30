package dispatch

import (
	"encoding/json"
	"strings"

	"github.com/edgefn/edgefn/internal/filter"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
)

// toEvent is what the function sees of a delivery. source is "queue/NAME" or "stream/NAME".
func toEvent(d *triggers.Delivery, source string) *event.Event {
	headers := d.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	return &event.Event{
		ID: d.ID, Type: d.Type, Source: source, Subject: d.Subject, Time: d.Time, Data: d.Data,
		ContentType: d.ContentType, CorrelationID: d.CorrelationID, Attempt: d.Attempt, Headers: headers,
	}
}

// filterEnv is what a filter sees as `event` (docs/manifest.md): data decoded from JSON when it is JSON,
// else a string.
func filterEnv(ev *event.Event) *filter.Event {
	env := &filter.Event{
		ID: ev.ID, Type: ev.Type, Source: ev.Source, Subject: ev.Subject, Time: ev.Time,
		CorrelationID: ev.CorrelationID, Attempt: ev.Attempt, Headers: ev.Headers,
	}
	var v any
	if looksJSON(ev.ContentType, ev.Data) && json.Unmarshal(ev.Data, &v) == nil {
		env.Data = v
	} else {
		env.Data = string(ev.Data)
	}
	return env
}

func looksJSON(contentType string, data []byte) bool {
	if strings.Contains(contentType, "json") {
		return true
	}
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[', '"':
			return contentType == ""
		}
		return false
	}
	return false
}
