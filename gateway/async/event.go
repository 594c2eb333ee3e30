package async

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// queuedEvent is an HTTP call as it waits on the queue: everything the function would have
// seen had it been called synchronously. Type, Source and Subject are those of a CloudEvent
// request (docs/http.md#cloudevents); a plain call has no type or subject and the source http.
type queuedEvent struct {
	ID          string            `json:"id"`
	Type        string            `json:"type,omitempty"`
	Source      string            `json:"source,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	Time        time.Time         `json:"time"`
	Data        []byte            `json:"data,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Claims      map[string]any    `json:"claims,omitempty"`
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Params      map[string]string `json:"params,omitempty"`
	Query       url.Values        `json:"query,omitempty"`
}

func encodeEvent(ev *event.Event) ([]byte, error) {
	return json.Marshal(queuedEvent{
		ID: ev.ID, Type: ev.Type, Source: ev.Source, Subject: ev.Subject, Time: ev.Time, Data: ev.Data, ContentType: ev.ContentType, Headers: ev.Headers,
		Claims: ev.Claims, Method: ev.Method, Path: ev.Path, Params: ev.Params, Query: ev.Query,
	})
}

// decodeEvent rebuilds the event of async request id from its queued form.
func decodeEvent(data []byte, id string, attempt int) (*event.Event, error) {
	var q queuedEvent
	if err := json.Unmarshal(data, &q); err != nil {
		return nil, fmt.Errorf("async: queued invocation %s is not readable: %w", id, err)
	}
	if q.Headers == nil {
		q.Headers = map[string]string{}
	}
	if q.Source == "" {
		q.Source = "http"
	}
	return &event.Event{
		ID: q.ID, Type: q.Type, Source: q.Source, Subject: q.Subject, Time: q.Time, Data: q.Data, ContentType: q.ContentType,
		CorrelationID: id, Attempt: attempt, Headers: q.Headers, Claims: q.Claims,
		Method: q.Method, Path: q.Path, Params: q.Params, Query: q.Query,
	}, nil
}
