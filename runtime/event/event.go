package event

import (
	"encoding/json"
	"errors"
	"net/url"
	"time"
)

// Event is one invocation's input, with CloudEvents-style attributes.
type Event struct {
	// ID identifies the event: the message ID of a queue message, the id of a stream entry, the
	// request ID of an HTTP call.
	ID string
	// Type is the event type, e.g. "OrderCreated"; empty for HTTP calls.
	Type string
	// Source says where the event came from: "http", "queue/NAME", "stream/NAME",
	// "websocket/TOPIC" or "invoke".
	Source string
	// Subject is the event's subject, if the producer set one.
	Subject string
	// Time is when the event was produced (for HTTP calls, when the gateway received it).
	Time time.Time
	// Data is the payload: the HTTP body or the message data.
	Data []byte
	// ContentType is the media type of Data.
	ContentType string
	// CorrelationID ties the event to a conversation, e.g. an async request's ID.
	CorrelationID string
	// Attempt is 1 on first delivery and counts redeliveries after failures.
	Attempt int
	// Headers are the HTTP request headers (canonical names, first value) or message headers.
	Headers map[string]string
	// Claims are the verified JWT's claims, if the trigger required one.
	Claims map[string]any

	// Method is the HTTP method, for HTTP-triggered events.
	Method string
	// Path is the request path, for HTTP-triggered events.
	Path string
	// Params are the route's {name} captures, for HTTP-triggered events.
	Params map[string]string
	// Query is the parsed query string, for HTTP-triggered events.
	Query url.Values
}

// ErrNoData is returned by Decode when the event carries no data.
var ErrNoData = errors.New("fn: event has no data")

// Decode unmarshals the event's JSON data into v.
func (e *Event) Decode(v any) error {
	if len(e.Data) == 0 {
		return ErrNoData
	}
	return json.Unmarshal(e.Data, v)
}
