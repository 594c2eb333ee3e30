package pluginserver

import (
	"context"
	"io"
	"log/slog"
	"os"
)

// Logger returns the logger of the invocation ctx belongs to, or the process's own when ctx
// belongs to none.
func Logger(ctx context.Context) *slog.Logger {
	if inv, ok := ctx.Value(invocationKey{}).(*invocation); ok {
		return inv.logger()
	}
	return baseLogger
}

// baseLogger writes JSON lines to the process's stderr as it is when the line is written:
// go-plugin replaces os.Stderr with a pipe to the gateway once the plugin serves.
var baseLogger = slog.New(slog.NewJSONHandler(stderr{}, &slog.HandlerOptions{Level: slog.LevelDebug}))

type stderr struct{}

func (stderr) Write(p []byte) (int, error) { return os.Stderr.Write(p) }

var _ io.Writer = stderr{}
