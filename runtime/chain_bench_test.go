package runtime

import (
	"context"
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// BenchmarkChain measures an invocation through a version's whole chain (metrics, span,
// breaker, limit, timeout, pool, instance) and a real plugin process (internal/testfn's echo),
// the way the gateway calls it: "invoke" is an HTTP call, one event per call, from many
// callers at once; "batch16" is what a stream trigger hands over, 16 events per call.
func BenchmarkChain(b *testing.B) {
	f := startChain(b, &manifest.Function{Name: "testfn", Timeout: manifest.DefaultTimeout,
		Concurrency: 1 << 16, Instances: 1, Breaker: manifest.Breaker{Failures: manifest.DefaultBreakerFailures,
			Cooldown: manifest.DefaultBreakerCooldown}})
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
