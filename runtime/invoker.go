package runtime

import (
	"context"

	"github.com/edgefn/edgefn/runtime/fn"
)

// Invoker runs one invocation of a function. Invoke returns the function's Result, or an error:
// an *Error of the runtime, an *fn.Error the function chose, or a *FunctionError. It honours
// ctx's cancellation; implementations are safe for concurrent use.
type Invoker interface {
	Invoke(ctx context.Context, ev *fn.Event) (*fn.Result, error)
}

// InvokerFunc adapts a function to an Invoker.
type InvokerFunc func(ctx context.Context, ev *fn.Event) (*fn.Result, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, ev *fn.Event) (*fn.Result, error) { return f(ctx, ev) }

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
