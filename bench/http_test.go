package bench

import (
	"context"
	neturl "net/url"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// BenchmarkHello measures GET /hello/x on the raw Fiber baseline, then through edgefn running
// functions/hello as a plugin, each server alone while it is measured; edgefn's line reports
// its throughput as a ratio of the baseline's (×rawfiber). The Go client shares the machine
// and costs more than wrk, so bench/README.md takes its numbers from cmd/edgebench instead.
// It builds the binaries and spawns processes, so it runs only with EDGEFN_BENCH=1:
//
//	EDGEFN_BENCH=1 go test -run '^$' -bench Hello -benchtime 5s ./bench/
func BenchmarkHello(b *testing.B) {
	if os.Getenv("EDGEFN_BENCH") != "1" {
		b.Skip("set EDGEFN_BENCH=1 to run: it builds edgefn and spawns servers and plugins")
	}
	ctx := context.Background()
	repo, err := harness.RepoRoot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	bins, err := harness.Build(ctx, repo, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	tmp := b.TempDir()
	targets := []struct {
		name  string
		start func() (*harness.Server, error)
		perOp time.Duration
	}{
		{name: "rawfiber", start: func() (*harness.Server, error) { return harness.StartRawFiber(ctx, bins) }},
		{name: "edgefn", start: func() (*harness.Server, error) { return harness.StartEdgefn(ctx, bins, tmp) }},
	}
	for i := range targets {
		t := &targets[i]
		srv, err := t.start()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(t.name, func(b *testing.B) {
			t.perOp = hammer(b, srv.URL+"/hello/x")
			if raw := targets[0].perOp; i > 0 && raw > 0 {
				b.ReportMetric(float64(raw)/float64(t.perOp), "×rawfiber")
			}
		})
		srv.Stop()
	}
}

// hammer sends GET url from 64 goroutines over keep-alive connections, b.N times in all, and
// returns the time per request. The client is fasthttp's, the lightest Go client, because the
// client shares the machine with the servers: net/http would cost more than the baseline.
func hammer(b *testing.B, url string) time.Duration {
	const conns = 64
	u, err := neturl.Parse(url)
	if err != nil {
		b.Fatal(err)
	}
	client := &fasthttp.HostClient{Addr: u.Host, MaxConns: conns}
	defer client.CloseIdleConnections()
	b.SetParallelism(max(1, conns/runtime.GOMAXPROCS(0))) // about conns goroutines in all
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		for pb.Next() {
			if err := client.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != fasthttp.StatusOK {
				b.Errorf("GET %s: %d", url, resp.StatusCode())
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	return b.Elapsed() / time.Duration(b.N)
}
