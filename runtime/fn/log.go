package fn

import (
	"context"
	"log/slog"

	"github.com/edgefn/edgefn/runtime/fn/internal/pluginserver"
)

type loggerKey struct{}

// Logger returns the invocation's logger. Its lines reach the gateway's log tagged with the
// function's name, the request ID and the trace ID, and `edgefn logs NAME` shows them.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return pluginserver.Logger(ctx)
}

// WithLogger returns ctx carrying l as the invocation's logger; fntest uses it.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Traceparent returns the W3C traceparent of the invocation, or "" when it has none.
func Traceparent(ctx context.Context) string { return pluginserver.Traceparent(ctx) }
