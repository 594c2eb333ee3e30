// Package filter compiles and runs the expr-lang expressions of manifests: the filters of
// queue and stream triggers, which select the events that invoke a function, and the
// subscribe and publish rules of WebSocket topics.
//
// Source text enters through [Compile] or [CompileRule], once, when a manifest loads; an
// expression that does not type-check against its environment, or does not yield a bool, is
// rejected then, with a one-line error. What leaves is a compiled [Filter] or [Rule], safe
// for concurrent use, that answers yes or no for each [Event] or [RuleEnv] it is given.
package filter

import "time"

// Event is what a filter sees as `event`.
type Event struct {
	// ID is the event's unique ID.
	ID string `expr:"id"`
	// Type is the event type, such as "OrderCreated".
	Type string `expr:"type"`
	// Source names where the event came from, such as "stream/order-events".
	Source string `expr:"source"`
	// Subject is the optional subject of the event.
	Subject string `expr:"subject"`
	// Time is when the event was produced.
	Time time.Time `expr:"time"`
	// CorrelationID ties the event to a request or conversation.
	CorrelationID string `expr:"correlationId"`
	// Attempt is 1 on the first delivery and grows with each redelivery.
	Attempt int `expr:"attempt"`
	// Headers are the message headers.
	Headers map[string]string `expr:"headers"`
	// Data is the payload decoded from JSON when it is JSON, else a string.
	Data any `expr:"data"`
}

// filterEnv is the environment a filter expression is compiled and run against.
type filterEnv struct {
	Event Event `expr:"event"`
}

// Filter is a compiled filter expression. It is compiled once, when the manifest is
// loaded, and is safe for concurrent use.
type Filter struct {
	p program
}

// Compile compiles and type-checks src, an expr-lang expression over `event` that must
// yield a bool. The error is a single line.
func Compile(src string) (*Filter, error) {
	p, err := compile(src, filterEnv{})
	if err != nil {
		return nil, err
	}
	return &Filter{p: p}, nil
}

// Match reports whether ev passes the filter. An error means the expression failed at run
// time (for example comparing a missing field with a number); callers treat such an event
// as not matching and count it. A nil Filter matches every event.
func (f *Filter) Match(ev *Event) (bool, error) {
	if f == nil {
		return true, nil
	}
	return f.p.run("filter", filterEnv{Event: *ev})
}

// String returns the filter's source expression.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.p.src
}
