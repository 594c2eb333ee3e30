package event

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/internal/id"
)

// Result is a successful invocation's output: the answer to an HTTP caller and the effects the
// gateway carries out. Effects are carried out only when the handler succeeds, and before the
// triggering message is acknowledged.
type Result struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Headers are response headers.
	Headers map[string]string
	// Body is the response body.
	Body []byte
	// Emitted are the messages to publish to streams and queues (see Emit).
	Emitted []Message
	// Notified are the publications to WebSocket topics (see Notify).
	Notified []Notification

	err error
}

// Message is an event a function emits to a stream or a queue, made by ToStream or ToQueue.
type Message struct {
	// Queue is true for a RabbitMQ (or embedded) queue, false for a stream.
	Queue bool
	// Target is the stream or queue name.
	Target string
	// ID identifies the message so consumers can de-duplicate; the gateway sets one when empty.
	ID string
	// Type is the event type.
	Type string
	// Subject is the event's subject.
	Subject string
	// Data is the payload.
	Data []byte
	// ContentType is the media type of Data.
	ContentType string
	// Headers are extra message headers.
	Headers map[string]string
	// Priority is the message priority on a priority queue (0 to the queue's maxPriority).
	Priority int
	// CloudEvent asks for the message to be published as a structured-mode CloudEvent: the
	// body is the application/cloudevents+json envelope of Data (see AsCloudEvent).
	CloudEvent bool
	// Delay, above zero, delivers a queue message that long after the invocation succeeded
	// (see After).
	Delay time.Duration
	// Cancel makes the message a cancellation: the delayed message with the ID to the queue
	// Target is not delivered (see CancelDelayed). Only Target and ID count.
	Cancel bool

	err error
}

// Notification is one publication to the WebSocket subscribers of a topic.
type Notification struct {
	// Topic is the topic, e.g. "orders.42".
	Topic string
	// Data is the publication, JSON.
	Data json.RawMessage
}

// JSON returns a Result whose body is v encoded as JSON.
func JSON(status int, v any) *Result {
	r := &Result{Status: status, Headers: map[string]string{"Content-Type": "application/json"}}
	r.Body, r.err = json.Marshal(v)
	if r.err != nil {
		r.err = fmt.Errorf("fn: encode result: %w", r.err)
	}
	return r
}

// Text returns a Result with a plain-text body.
func Text(status int, s string) *Result {
	return &Result{Status: status, Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, Body: []byte(s)}
}

// Bytes returns a Result with the given content type and body.
func Bytes(status int, contentType string, body []byte) *Result {
	return &Result{Status: status, Headers: map[string]string{"Content-Type": contentType}, Body: body}
}

// Status returns a Result with no body.
func Status(status int) *Result { return &Result{Status: status} }

// Emit adds messages to publish to streams or queues when the handler succeeds.
func (r *Result) Emit(msgs ...Message) *Result {
	for _, m := range msgs {
		if m.err != nil && r.err == nil {
			r.err = m.err
		}
		r.Emitted = append(r.Emitted, m)
	}
	return r
}

// Notify adds a publication of v, encoded as JSON, to the WebSocket topic when the handler
// succeeds.
func (r *Result) Notify(topic string, v any) *Result {
	data, err := json.Marshal(v)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("fn: encode notification for %q: %w", topic, err)
	}
	r.Notified = append(r.Notified, Notification{Topic: topic, Data: data})
	return r
}

// SetHeader sets a response header and returns r.
func (r *Result) SetHeader(key, value string) *Result {
	if r.Headers == nil {
		r.Headers = make(map[string]string)
	}
	r.Headers[key] = value
	return r
}

// Err reports the first value that could not be encoded while the Result was built. The
// gateway fails an invocation whose Result has an Err.
func (r *Result) Err() error { return r.err }

// ToStream makes a message for the stream, with v encoded as JSON.
func ToStream(stream, eventType string, v any) Message {
	return newMessage(false, stream, eventType, v)
}

// ToQueue makes a message for the queue, with v encoded as JSON.
func ToQueue(queue, eventType string, v any) Message {
	return newMessage(true, queue, eventType, v)
}

func newMessage(queue bool, target, eventType string, v any) Message {
	m := Message{Queue: queue, Target: target, Type: eventType, ContentType: "application/json"}
	m.Data, m.err = json.Marshal(v)
	if m.err != nil {
		m.err = fmt.Errorf("fn: encode message for %q: %w", target, m.err)
	}
	return m
}

// WithPriority returns m with the given priority, for priority queues.
func (m Message) WithPriority(p int) Message { m.Priority = p; return m }

// WithSubject returns m with the given subject.
func (m Message) WithSubject(s string) Message { m.Subject = s; return m }

// WithID returns m with the given ID, for consumers that de-duplicate on a business key.
func (m Message) WithID(id string) Message { m.ID = id; return m }

// AsCloudEvent returns m to be published as a CloudEvent in structured mode: the message body
// is the CloudEvents 1.0 JSON envelope (specversion, id, source "function/NAME", type,
// subject, time, datacontenttype, the data, the headers whose names are CloudEvents extension
// names, traceparent) with the content type application/cloudevents+json, which Dapr and
// Knative consumers read. The broker's own fields and headers carry the attributes as for
// any message. A CloudEvent needs a type.
func (m Message) AsCloudEvent() Message {
	m.CloudEvent = true
	if m.Type == "" && m.err == nil {
		m.err = fmt.Errorf("fn: message for %q: a CloudEvent needs a type", m.Target)
	}
	return m
}

// After returns m to be delivered to its queue d after the invocation succeeded, rather than
// at once, and with an ID, a new random one unless m has one (WithID): save m.ID to cancel
// the message later (CancelDelayed). A d of zero or less is no delay. Only queue messages
// take a delay; the longest one depends on the queue backend (docs/events.md), and the
// gateway fails the invocation whose delay is longer.
func (m Message) After(d time.Duration) Message {
	if !m.Queue && m.err == nil {
		m.err = fmt.Errorf("fn: message for stream %q: only queue messages take a delay", m.Target)
	}
	m.Delay = max(d, 0)
	if m.ID == "" {
		m.ID = id.New()
	}
	return m
}

// CancelDelayed returns the cancellation of the delayed message with the ID msgID to queue,
// to pass to Result.Emit: when the handler succeeds, the message is not delivered. Cancelling
// a message that was delivered already, or never sent, does nothing.
func CancelDelayed(queue, msgID string) Message {
	m := Message{Queue: true, Target: queue, ID: msgID, Cancel: true}
	if msgID == "" {
		m.err = fmt.Errorf("fn: cancel a delayed message to %q: no ID", queue)
	}
	return m
}
