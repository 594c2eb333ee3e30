// Command asyncbench measures edgefn's async request-reply (docs/async.md) against the synchronous
// call of the same function at the same rate, in one run on one machine:
//
//   - the 202: an open-loop sender POSTs /hello/x with `Prefer: respond-async` at -rate
//     (500/s) for -duration (10s) and times each request from its due time to its 202, beside
//     the same sender without the header, timed to its 200;
//   - the reply on the WebSocket: one WebSocket connection subscribes to requests.<id> right
//     after each 202 (pipelined: the subscribe is sent without waiting for anything) and
//     stamps the reply's arrival, in the subscribe reply's publications or as a live frame;
//     it reports 202 → reply and due time → reply (end to end), beside the synchronous
//     call's latency.
//
// edgefn runs `serve` with functions/hello on POST /hello/{name} (async allowed, the default),
// a fresh data folder per round, the embedded queue and topics, log level warn. Each round
// measures both modes on the same server, the synchronous one first in odd rounds. It
// reports the median over the rounds with the lowest and highest round as markdown, and with
// -write FILE replaces the part of FILE between <!-- async-results:start --> and
// <!-- async-results:end --> (appended when missing) with that report.
//
// Usage, from the repository:
//
//	go run ./bench/cmd/asyncbench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes asyncbench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "asyncbench", Section: "async-results", Attempts: 2,
	Programs: []harness.Program{harness.Edgefn, harness.Hello}}

// options are asyncbench's flags.
type options struct {
	rounds                    int
	rate, conns               int
	duration, warmup, timeout time.Duration
	// Options are the flags every benchmark command has.
	harness.Options
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures the synchronous and the async call in turn")
	flag.IntVar(&o.rate, "rate", 500, "requests per second of the open-loop sender")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long requests are recorded")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "how long requests are sent at -rate before recording starts")
	flag.IntVar(&o.conns, "conns", 64, "HTTP connections of the sender")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "bound on one request, and on the wait for the last replies")
	cmd.Main(&o.Options, o.validate, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

func (o *options) validate() error {
	if o.rounds < 1 || o.rate < 1 || o.conns < 1 || o.duration <= 0 || o.warmup < 0 || o.timeout <= 0 ||
		time.Second/time.Duration(o.rate) <= 0 {
		return errors.New("-rounds, -rate (at most 1e9), -conns, -duration and -timeout must be positive, -warmup not negative")
	}
	return nil
}

// bench runs the rounds; each starts a server of its own.
type bench struct {
	opts options
	run  *harness.Run
	// edgefn is the gateway, and hello the plugin it serves.
	edgefn, hello string
}

func run(ctx context.Context, o options, r *harness.Run) error {
	b := &bench{opts: o, run: r, edgefn: r.Bins[0], hello: r.Bins[1]}
	rep := report{opts: o, run: r}
	var err error
	if rep.rounds, err = harness.Rounds(ctx, o.rounds, b.round); err != nil {
		return err
	}
	return r.Publish(rep.markdown)
}

// helloManifest serves hello on POST /hello/{name}; HTTP routes allow async by default.
const helloManifest = "name: hello\nhandler: %s\nconcurrency: 1000\ntimeout: 5s\ntriggers:\n  - http: {method: POST, path: \"/hello/{name}\"}\n"

// startEdgefn starts `edgefn serve` with hello on a fresh data folder, embedded backends.
func (b *bench) startEdgefn(ctx context.Context) (*harness.Server, error) {
	abs, err := filepath.Abs(b.hello)
	if err != nil {
		return nil, err
	}
	serve := harness.Serve{Edgefn: b.edgefn, Dir: b.run.Tmp, Manifest: fmt.Sprintf(helloManifest, abs)}
	return serve.Start(ctx, harness.Check{Path: "/healthz", Status: 200}, harness.Check{Path: "/readyz", Status: 200})
}

// roundResult is one round: a run of each mode on one server.
type roundResult struct {
	n    int
	runs map[string]result
	// order is the modes in the order they ran; tries how many runs each took.
	order []string
	tries map[string]int
}

// round measures both modes on a server of its own, the synchronous one first in odd rounds.
func (b *bench) round(ctx context.Context, n int) (roundResult, error) {
	o := b.opts
	srv, err := b.startEdgefn(ctx)
	if err != nil {
		return roundResult{}, err
	}
	defer srv.Stop()
	url := srv.URL + "/hello/x"
	wsURL := "ws://" + srv.Addr + "/ws"
	// One untimed call of each kind, so the plugin and the queue are warm before the sender's
	// own warm-up.
	for _, m := range []string{modeSync, modeAsync} {
		if _, err := openLoop(ctx, options{rate: 100, duration: 200 * time.Millisecond, conns: 4, timeout: o.timeout}, m, url, wsURL); err != nil {
			return roundResult{}, fmt.Errorf("warm-up: %w\n%s", err, srv.Output())
		}
	}
	rd := roundResult{n: n, runs: map[string]result{}, tries: map[string]int{}, order: []string{modeSync, modeAsync}}
	if n%2 == 0 {
		rd.order = []string{modeAsync, modeSync}
	}
	for _, m := range rd.order {
		best, _, tries, err := harness.Measure(b.run, fmt.Sprintf("round %d %s", n, m), func(int) (result, float64, error) {
			if err := b.run.WaitTurn(ctx); err != nil {
				return result{}, 0, err
			}
			res, err := measure(ctx, o, srv, m, url, wsURL)
			if err != nil {
				return res, 0, fmt.Errorf("round %d, %s: %w\n%s", n, m, err, srv.Output())
			}
			return res, res.other, nil
		})
		if err != nil {
			return rd, err
		}
		rd.tries[m] = tries
		rd.runs[m] = best
		r := best
		line := fmt.Sprintf("round %d %-5s answer p50 %.3f p99 %.3f ms", n, m, ms(pct(r.answer, 50)), ms(pct(r.answer, 99)))
		if m == modeAsync {
			line += fmt.Sprintf("  202→reply p50 %.3f p99 %.3f ms  e2e p50 %.3f p99 %.3f ms",
				ms(pct(r.push, 50)), ms(pct(r.push, 99)), ms(pct(r.e2e, 50)), ms(pct(r.e2e, 99)))
		}
		b.run.Logf("%s  failed %d  other %.0f%%", line, r.failed, 100*r.other)
		if r.firstErr != nil {
			b.run.Logf("  first error: %v", r.firstErr)
		}
	}
	return rd, nil
}

// measure runs the open loop once and measures the share of the machine that processes
// other than the server, its plugin and asyncbench used meanwhile.
func measure(ctx context.Context, o options, srv *harness.Server, mode, url, wsURL string) (result, error) {
	before := harness.Snapshot(srv)
	res, err := openLoop(ctx, o, mode, url, wsURL)
	if err != nil {
		return res, err
	}
	res.other = harness.Snapshot(srv).Since(before).Other()
	return res, nil
}

func ms(d time.Duration) float64 { return harness.Millis(d) }

func pct(sorted []time.Duration, p float64) time.Duration { return harness.Percentile(sorted, p) }
