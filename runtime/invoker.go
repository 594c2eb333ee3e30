package runtime

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/runtime/event"
)

// Invoker runs one invocation of a function. Invoke returns the function's Result, or an error:
// an *Error of the runtime, an *event.Error the function chose, or a *FunctionError. It honours
// ctx's cancellation; implementations are safe for concurrent use.
type Invoker interface {
	Invoke(ctx context.Context, ev *event.Event) (*event.Result, error)
}

// stage is one step of a version's invocation chain (see newVersion). Every stage takes a
// batch, and a single call is a batch of one: there is one path from the Function to the
// plugin. invoke runs evs under ctx and sets out[k] to the outcome of evs[k]; it returns when
// every outcome is set, and keeps neither slice. Stages are safe for concurrent use.
type stage interface {
	invoke(ctx context.Context, evs []*event.Event, out []outcome)
}

// outcome is one event's answer in a batch, and what travels with the event: its
// invocation span and the traceparent the plugin gets for it.
type outcome struct {
	res *event.Result
	err error

	span        trace.Span   // in: the event's invocation span; nil for none
	traceparent string       // in: for the plugin; "" when the event is not traced
	ran         handlerTimes // out: when the plugin ran the handler
}

// fillOutcomes fails the outcomes at the indices only (every one when only is nil).
func fillOutcomes(out []outcome, only []int, err error) {
	if only == nil {
		for k := range out {
			out[k].res, out[k].err = nil, err
		}
		return
	}
	for _, k := range only {
		out[k].res, out[k].err = nil, err
	}
}

// invokeEach runs evs one at a time each, concurrently, with one, and returns when all are done:
// what a stage does with a batch its next step takes only event by event.
func invokeEach(ctx context.Context, evs []*event.Event, out []outcome, one func(context.Context, *event.Event, *outcome)) {
	if len(evs) == 1 {
		one(ctx, evs[0], &out[0])
		return
	}
	var wg sync.WaitGroup
	for k := range evs {
		wg.Go(func() { one(ctx, evs[k], &out[k]) })
	}
	wg.Wait()
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request ID that the function's log lines name.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID carried by ctx.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}
