package main

import (
	"context"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// bench runs the measurements.
type bench struct {
	opts options
	run  *harness.Run
	wrk  string
	bins harness.Binaries
}

// target is one server under test.
type target struct {
	name  string
	start func(context.Context, harness.Binaries) (*harness.Server, error)
	// notFound also measures the throughput of a path with no route (gateway only, 404).
	notFound bool
}

// measurement is what one round measured on one target.
type measurement struct {
	hello    harness.WrkResult
	notFound harness.WrkResult
	latency  harness.LatencyResult
	// cpu is the CPU time per request of the hello throughput run.
	cpu cpuPerRequest
	// foreignHello and foreignLatency are the shares of the machine's CPU that other
	// processes used during the hello throughput run and during the latency run.
	foreignHello, foreignLatency float64
}

// cpuPerRequest splits the CPU time of a throughput run per request, in µs: the server
// process, its child processes (edgefn's plugin) and wrk. On a saturated machine the
// throughput is about the number of cores divided by their sum.
type cpuPerRequest struct {
	server, plugin, wrk float64
}

func (c cpuPerRequest) total() float64 { return c.server + c.plugin + c.wrk }

// round pairs the baseline's run with edgefn's, measured one after the other.
type round struct {
	raw, edge measurement
}

// round measures the baseline, then edgefn, each alone.
func (b *bench) round(ctx context.Context, n int) (round, error) {
	raw, err := b.measure(ctx, n, target{name: "rawfiber", start: harness.StartRawFiber})
	if err != nil {
		return round{}, err
	}
	edge, err := b.measure(ctx, n, target{name: "edgefn", start: b.startEdgefn, notFound: true})
	return round{raw: raw, edge: edge}, err
}

func (b *bench) startEdgefn(ctx context.Context, bins harness.Binaries) (*harness.Server, error) {
	return harness.StartEdgefn(ctx, bins, b.run.Tmp)
}

// measure starts t alone, warms it up, measures throughput (and the 404 path), then latency,
// and stops it. Each throughput or latency run waits its turn first, and one that other
// processes disturbed is measured again.
func (b *bench) measure(ctx context.Context, n int, t target) (measurement, error) {
	var r measurement
	prefix := fmt.Sprintf("round %d %-8s", n, t.name)
	srv, err := t.start(ctx, b.bins)
	if err != nil {
		return r, err
	}
	defer srv.Stop()
	w := harness.Wrk{Path: b.wrk, Threads: b.opts.threads, Conns: b.opts.conns, Duration: b.opts.warmup}
	hello := srv.URL + "/hello/x"
	if _, err := w.Run(ctx, hello); err != nil {
		return r, err
	}
	w.Duration = b.opts.duration
	tp, _, _, err := harness.Measure(b.run, prefix+" hello", func(int) (throughputRun, float64, error) {
		if err := b.run.WaitTurn(ctx); err != nil {
			return throughputRun{}, 0, err
		}
		tp, err := b.throughput(ctx, srv, w, hello)
		return tp, tp.foreign, err
	})
	if err != nil {
		return r, err
	}
	r.hello, r.cpu, r.foreignHello = tp.wrk, tp.cpu, tp.foreign
	b.run.Logf("%s hello   %9.0f req/s (%d non-2xx, %d socket errors); CPU per request: server %.1f µs, plugin %.1f µs, wrk %.1f µs; other load %.0f%%",
		prefix, r.hello.RPS, r.hello.Non2xx, r.hello.SocketErrors, r.cpu.server, r.cpu.plugin, r.cpu.wrk, 100*r.foreignHello)
	if t.notFound {
		if r.notFound, err = w.Run(ctx, srv.URL+"/no-such-route/x"); err != nil {
			return r, err
		}
		b.run.Logf("%s 404     %9.0f req/s", prefix, r.notFound.RPS)
	}
	ol := harness.OpenLoop{Rate: b.opts.rate, Duration: b.opts.latencyDuration, Warmup: time.Second, Conns: b.opts.conns}
	r.latency, r.foreignLatency, _, err = harness.Measure(b.run, prefix+" latency", func(int) (harness.LatencyResult, float64, error) {
		if err := b.run.WaitTurn(ctx); err != nil {
			return harness.LatencyResult{}, 0, err
		}
		before := harness.Snapshot(srv)
		l, err := ol.Run(ctx, hello)
		return l, harness.Snapshot(srv).Since(before).Other(), err
	})
	if err != nil {
		return r, err
	}
	l := r.latency.Latencies
	b.run.Logf("%s latency p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  (%d failed, sender lag p99 %.3f ms, other load %.0f%%)", prefix,
		harness.Millis(harness.Percentile(l, 50)), harness.Millis(harness.Percentile(l, 99)),
		harness.Millis(harness.Percentile(l, 99.9)), r.latency.Failed, harness.Millis(harness.Percentile(r.latency.Lag, 99)),
		100*r.foreignLatency)
	if r.latency.FirstError != nil {
		b.run.Logf("%s first failure: %v", prefix, r.latency.FirstError)
	}
	return r, nil
}

// throughputRun is one wrk run and the CPU it took.
type throughputRun struct {
	wrk     harness.WrkResult
	cpu     cpuPerRequest
	foreign float64
}

// throughput runs w against url and accounts for the CPU time it took, per request.
func (b *bench) throughput(ctx context.Context, srv *harness.Server, w harness.Wrk, url string) (throughputRun, error) {
	var tp throughputRun
	before := harness.Snapshot(srv)
	var err error
	if tp.wrk, err = w.Run(ctx, url); err != nil {
		return tp, err
	}
	used := harness.Snapshot(srv).Since(before)
	tp.foreign = used.Other()
	if used.OK && tp.wrk.Requests > 0 {
		perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(tp.wrk.Requests) }
		tp.cpu = cpuPerRequest{server: perReq(used.Server), plugin: perReq(used.Children), wrk: perReq(tp.wrk.CPU)}
	}
	return tp, nil
}
