package async

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// queuedEvent is an HTTP call as it waits on the queue: everything the function would have
// seen had it been called synchronously.
type queuedEvent struct {
	ID          string            `json:"id"`
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
		ID: ev.ID, Time: ev.Time, Data: ev.Data, ContentType: ev.ContentType, Headers: ev.Headers,
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
	return &event.Event{
		ID: q.ID, Source: "http", Time: q.Time, Data: q.Data, ContentType: q.ContentType,
		CorrelationID: id, Attempt: attempt, Headers: q.Headers, Claims: q.Claims,
		Method: q.Method, Path: q.Path, Params: q.Params, Query: q.Query,
	}, nil
}
