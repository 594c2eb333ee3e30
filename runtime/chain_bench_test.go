package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// BenchmarkChain measures an invocation through a version's whole chain (metrics, span,
// breaker, limit, timeout, pool, instance) and a real plugin process (internal/testfn's echo),
// the way the gateway calls it: "invoke" is an HTTP call, one event per call, from many
// callers at once; "batch16" is what a stream trigger hands over, 16 events per call.
func BenchmarkChain(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a plugin")
	}
	f := startChain(b)
	ctx := WithRequestID(WithTrigger(context.Background(), TriggerHTTP), "bench")
	echo := func() *fn.Event { return &fn.Event{Type: "echo", Data: []byte("hello")} }

	b.Run("invoke", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32) // as many callers as a loaded HTTP server has requests in flight
		b.RunParallel(func(pb *testing.PB) {
			ev := echo()
			for pb.Next() {
				if _, err := f.Invoke(ctx, ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run("batch16", func(b *testing.B) {
		b.ReportAllocs()
		sctx := WithTrigger(context.Background(), TriggerStream)
		evs := make([]*fn.Event, 16)
		for k := range evs {
			evs[k] = echo()
		}
		b.SetParallelism(2)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, errs := f.InvokeBatch(sctx, evs, nil)
				for _, err := range errs {
					if err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	})
}

// startChain builds internal/testfn and deploys it as a Function of one instance, with the
// manifest's defaults and a concurrency no benchmark reaches; it is stopped when b ends.
func startChain(b *testing.B) *Function {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "testfn")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/edgefn/edgefn/internal/testfn").CombinedOutput(); err != nil {
		b.Fatalf("go build testfn: %v\n%s", err, out)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := &manifest.Function{Name: "testfn", Timeout: manifest.DefaultTimeout, Concurrency: 1 << 16,
		Instances: 1, Breaker: manifest.Breaker{Failures: manifest.DefaultBreakerFailures,
			Cooldown: manifest.DefaultBreakerCooldown}}
	f := newFunction(m.Name, NewLogs(m.Name, logger), nil)
	spec := instanceSpec{Function: m.Name, Version: 1, Binary: bin, StartTimeout: time.Minute,
		Logs: f.logs, Logger: logger}
	v := newVersion(1, m, bin, spec, &f.restarts)
	if err := v.pool.start(context.Background()); err != nil {
		b.Fatal(fmt.Errorf("start testfn: %w", err))
	}
	b.Cleanup(v.pool.close)
	f.current.Store(v)
	return f
}
