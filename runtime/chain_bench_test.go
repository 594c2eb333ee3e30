//go:build unix

package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// BenchmarkChain measures an invocation through a version's whole chain (metrics, span,
// breaker, limit, timeout, pool, instance) and a real plugin process (internal/testfn's echo),
// the way the gateway calls it: "invoke" is an HTTP call, one event per call, from many
// callers at once; "batch16" is what a stream trigger hands over, 16 events per call. Beside
// the time per call it reports host-cpu-ns/op, the CPU this process (the host's side: the
// chain, the data path, its read loop) spent per call, which a machine shared with other
// work disturbs far less than the time.
func BenchmarkChain(b *testing.B) {
	f := startChain(b, &manifest.Function{Name: "testfn", Timeout: manifest.DefaultTimeout,
		Concurrency: 1 << 16, Scale: oneInstance, Breaker: manifest.Breaker{Failures: manifest.DefaultBreakerFailures,
			Cooldown: manifest.DefaultBreakerCooldown}})
	ctx := WithRequestID(WithTrigger(context.Background(), TriggerHTTP), "bench")
	echo := func() *event.Event { return &event.Event{Type: "echo", Data: []byte("hello")} }

	b.Run("invoke", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32) // as many callers as a loaded HTTP server has requests in flight
		defer testkit.ReportCPU(b, "host-cpu-ns/op")()
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
		evs := make([]*event.Event, 16)
		for k := range evs {
			evs[k] = echo()
		}
		b.SetParallelism(2)
		defer testkit.ReportCPU(b, "host-cpu-ns/op")()
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

// BenchmarkDeadline is what the timeout stage's deadline.Context pays for: the "invoke" case of
// BenchmarkChain through two chains that differ only there, one with the timeout stage
// (ctx=deadline) and one whose stage makes a context.WithTimeout (ctx=std), both on the same
// plugin process. Compare with `benchstat -col /ctx`.
func BenchmarkDeadline(b *testing.B) {
	m := &manifest.Function{Name: "testfn", Timeout: manifest.DefaultTimeout, Concurrency: 1 << 16,
		Scale: oneInstance, Breaker: manifest.Breaker{Failures: manifest.DefaultBreakerFailures,
			Cooldown: manifest.DefaultBreakerCooldown}}
	lazy := startChain(b, m)
	v := lazy.current.Load()
	std := newFunction(m.Name, lazy.logs, nil)
	// newVersion's chain, with stdTimeout for withTimeout.
	std.current.Store(&version{pool: v.pool, chain: withBreaker(withLimit(stdTimeout{v.pool, m.Timeout},
		m.Concurrency, m.Timeout), m.Breaker.Failures, m.Breaker.Cooldown)})
	ctx := WithRequestID(WithTrigger(context.Background(), TriggerHTTP), "bench")
	for _, c := range []struct {
		name string
		f    *Function
	}{{"ctx=deadline", lazy}, {"ctx=std", std}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(32)
			defer testkit.ReportCPU(b, "host-cpu-ns/op")()
			b.RunParallel(func(pb *testing.PB) {
				ev := &event.Event{Type: "echo", Data: []byte("hello")}
				for pb.Next() {
					if _, err := c.f.Invoke(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// stdTimeout is the timeout stage with the standard library's context.WithTimeout.
type stdTimeout struct {
	next stage
	d    time.Duration
}

func (t stdTimeout) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	c, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	t.next.invoke(c, evs, out)
	for k := range out {
		o := &out[k]
		if o.err != nil && !errors.Is(o.err, ErrCrashed) && errors.Is(c.Err(), context.DeadlineExceeded) {
			o.res, o.err = nil, ErrTimeout
		}
	}
}

// BenchmarkChainAlone is BenchmarkChain's "invoke" without the plugin: Function.Invoke through
// the breaker, the limit and the timeout to a last stage that answers at once. It is what the
// chain itself costs a call, apart from the data path.
func BenchmarkChainAlone(b *testing.B) {
	f := newFunction("f", nil, nil)
	f.current.Store(&version{chain: withBreaker(withLimit(withTimeout(answerAtOnce{&event.Result{Status: 200}},
		manifest.DefaultTimeout), 1<<16, manifest.DefaultTimeout), manifest.DefaultBreakerFailures,
		manifest.DefaultBreakerCooldown)})
	ctx := WithRequestID(WithTrigger(context.Background(), TriggerHTTP), "bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ev := &event.Event{Type: "echo"}
		for pb.Next() {
			if _, err := f.Invoke(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// answerAtOnce is a last stage that answers every event with its result.
type answerAtOnce struct{ res *event.Result }

func (a answerAtOnce) invoke(_ context.Context, _ []*event.Event, out []outcome) {
	for k := range out {
		out[k].res = a.res
	}
}
