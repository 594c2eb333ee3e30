package fn

import "context"

// Handler handles events. Handle is called concurrently.
type Handler interface {
	Handle(ctx context.Context, ev *Event) (*Result, error)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, ev *Event) (*Result, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, ev *Event) (*Result, error) { return f(ctx, ev) }
