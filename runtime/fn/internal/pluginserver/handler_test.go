package pluginserver

import (
	"context"

	"github.com/edgefn/edgefn/runtime/event"
)

// HandlerFunc adapts a function to a Handler, as fn.HandlerFunc does for function authors.
type HandlerFunc func(ctx context.Context, ev *event.Event) (*event.Result, error)

func (f HandlerFunc) Handle(ctx context.Context, ev *event.Event) (*event.Result, error) {
	return f(ctx, ev)
}
