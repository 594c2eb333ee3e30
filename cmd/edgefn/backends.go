package main

import (
	"context"
	"log/slog"

	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

// backends are the queue and stream backends serve runs with: embedded unless a broker is
// configured (SPEC 1).
type backends struct {
	queues  triggers.Queues
	streams triggers.Streams
	pingers map[string]triggers.Pinger
	closers []func()
}

// openBackends connects what o configures and fills the rest with the embedded backend.
func openBackends(_ context.Context, _ *serveOptions, logger *slog.Logger) (*backends, error) {
	b := &backends{pingers: map[string]triggers.Pinger{}}
	mem := memory.New(memory.Options{})
	b.closers = append(b.closers, func() { mem.Close() })
	b.queues, b.streams = mem, mem
	logger.Warn("queues and streams use the embedded in-memory backend: their contents are lost on restart")
	return b, nil
}

// notReady lists the brokers that do not answer.
func (b *backends) notReady(ctx context.Context) []string {
	var out []string
	for name, p := range b.pingers {
		if err := p.Ping(ctx); err != nil {
			out = append(out, name+": "+err.Error())
		}
	}
	return out
}

func (b *backends) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}
