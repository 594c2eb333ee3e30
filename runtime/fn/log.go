package fn

import (
	"context"
	"io"
	"log/slog"
	"os"
)

type loggerKey struct{}

// Logger returns the invocation's logger. Its lines reach the gateway's log tagged with the
// function's name, the request ID and the trace ID, and `edgefn logs NAME` shows them.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	if inv, ok := ctx.Value(invocationKey{}).(*invocation); ok {
		return inv.logger()
	}
	return baseLogger
}

// WithLogger returns ctx carrying l as the invocation's logger; fntest uses it.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// baseLogger writes JSON lines to the process's stderr as it is when the line is written:
// go-plugin replaces os.Stderr with a pipe to the gateway once the plugin serves.
var baseLogger = slog.New(slog.NewJSONHandler(stderr{}, &slog.HandlerOptions{Level: slog.LevelDebug}))

type stderr struct{}

func (stderr) Write(p []byte) (int, error) { return os.Stderr.Write(p) }

var _ io.Writer = stderr{}
