package triggers

import (
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// EventEnv is what a filter sees as `event` (docs/manifest.md).
type EventEnv struct {
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

// FilterEnv is the environment a filter expression is compiled and run against.
type FilterEnv struct {
	// Event is the event being filtered.
	Event EventEnv `expr:"event"`
}

// Filter is a compiled filter expression. It is compiled once, when the
// manifest is loaded, and is safe for concurrent use.
type Filter struct {
	prog *vm.Program
	src  string
}

// CompileFilter compiles and type-checks src, an expr-lang expression over
// `event` that must yield a bool. The error is a single line.
func CompileFilter(src string) (*Filter, error) {
	prog, err := expr.Compile(src, expr.Env(FilterEnv{}), expr.AsBool())
	if err != nil {
		return nil, oneLine(err)
	}
	return &Filter{prog: prog, src: src}, nil
}

// Match reports whether ev passes the filter. An error means the expression
// failed at run time (for example comparing a missing field with a number);
// callers treat such an event as not matching and count it. A nil Filter
// matches every event.
func (f *Filter) Match(ev *EventEnv) (bool, error) {
	if f == nil {
		return true, nil
	}
	out, err := expr.Run(f.prog, FilterEnv{Event: *ev})
	if err != nil {
		return false, fmt.Errorf("filter %q: %w", f.src, oneLine(err))
	}
	ok, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("filter %q: result is %T, not bool", f.src, out)
	}
	return ok, nil
}

// String returns the filter's source expression.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.src
}

// exprError is an expr error shown on one line: expr's own message ends
// with a multi-line excerpt of the source with a caret under the problem.
type exprError struct {
	msg string
	err error
}

func (e *exprError) Error() string { return e.msg }
func (e *exprError) Unwrap() error { return e.err }

// oneLine keeps the first line of an expr error, naming the event type the
// way users write it, and wraps the original.
func oneLine(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return &exprError{msg: strings.Replace(msg, "type triggers.EventEnv", "event", 1), err: err}
}
