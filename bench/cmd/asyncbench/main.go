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
	"io"
	"os"
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
	cmd.Flags(flag.CommandLine, &o.Options)
	flag.Parse()
	var invalid error
	if o.rounds < 1 || o.rate < 1 || o.conns < 1 || o.Attempts < 1 || o.duration <= 0 || o.warmup < 0 || o.timeout <= 0 ||
		time.Second/time.Duration(o.rate) <= 0 {
		invalid = errors.New("-rounds, -rate (at most 1e9), -conns, -attempts, -duration and -timeout must be positive, -warmup not negative")
	}
	cmd.Main(invalid, func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) })
}

func run(ctx context.Context, o options, stdout, progress io.Writer) error {
	tmp, cleanup, err := cmd.TempDir(o.Keep, progress)
	if err != nil {
		return err
	}
	defer cleanup()
	bins, err := cmd.Build(ctx, o.Prebuilt, tmp, progress, "edgefn and ./functions/hello")
	if err != nil {
		return err
	}
	edgefn, hello := bins[0], bins[1]
	rep := report{opts: o, machine: describeMachine(ctx), started: time.Now().UTC()}
	for n := 1; n <= o.rounds; n++ {
		rd, waits, err := round(ctx, o, n, edgefn, hello, tmp, progress)
		rep.waits = append(rep.waits, waits...)
		if err != nil {
			return err
		}
		rep.rounds = append(rep.rounds, rd)
	}
	rep.finished = time.Now().UTC()
	rep.machine.LoadAfter = harness.LoadAvg()
	text := rep.markdown()
	fmt.Fprint(stdout, text+"\n")
	return cmd.WriteSection(o.Write, text, progress)
}

// helloManifest serves hello on POST /hello/{name}; HTTP routes allow async by default.
const helloManifest = "name: hello\nhandler: %s\nconcurrency: 1000\ntimeout: 5s\ntriggers:\n  - http: {method: POST, path: \"/hello/{name}\"}\n"

// startEdgefn starts `edgefn serve` with hello on a fresh data folder, embedded backends.
func startEdgefn(ctx context.Context, edgefn, hello, tmp string) (*harness.Server, error) {
	dir, err := os.MkdirTemp(tmp, "edgefn-")
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(hello)
	if err != nil {
		return nil, err
	}
	manifest := filepath.Join(dir, "hello.yaml")
	if err := os.WriteFile(manifest, fmt.Appendf(nil, helloManifest, abs), 0o600); err != nil {
		return nil, err
	}
	return harness.StartServer(ctx, "edgefn", edgefn, []string{
		"serve", "--listen", "{addr}", "--data-dir", filepath.Join(dir, "data"),
		"--manifests", manifest, "--log-level", "warn", "--grace", "5s",
	}, harness.Check{Path: "/healthz", Status: 200}, harness.Check{Path: "/readyz", Status: 200})
}

// roundResult is one round: a run of each mode on one server.
type roundResult struct {
	n    int
	runs map[string]result
	// order is the modes in the order they ran; tries how many runs each took.
	order []string
	tries map[string]int
}

func round(ctx context.Context, o options, n int, edgefn, hello, tmp string, progress io.Writer) (roundResult, []harness.QuietWait, error) {
	srv, err := startEdgefn(ctx, edgefn, hello, tmp)
	if err != nil {
		return roundResult{}, nil, err
	}
	defer srv.Stop()
	url := srv.URL + "/hello/x"
	wsURL := "ws://" + srv.Addr + "/ws"
	// One untimed call of each kind, so the plugin and the queue are warm before the sender's
	// own warm-up.
	for _, m := range []string{modeSync, modeAsync} {
		if _, err := openLoop(ctx, options{rate: 100, duration: 200 * time.Millisecond, conns: 4, timeout: o.timeout}, m, url, wsURL); err != nil {
			return roundResult{}, nil, fmt.Errorf("warm-up: %w\n%s", err, srv.Output())
		}
	}
	rd := roundResult{n: n, runs: map[string]result{}, tries: map[string]int{}, order: []string{modeSync, modeAsync}}
	if n%2 == 0 {
		rd.order = []string{modeAsync, modeSync}
	}
	var waits []harness.QuietWait
	for _, m := range rd.order {
		best, _, tries, err := harness.LeastDisturbed(o.Options, func(int) (result, float64, error) {
			busy, waited, err := harness.WaitQuiet(ctx, o.Quiet, o.QuietWait)
			if err != nil {
				return result{}, 0, err
			}
			waits = append(waits, harness.QuietWait{Waited: waited, Busy: busy})
			res, err := measure(ctx, o, srv, m, url, wsURL)
			if err != nil {
				return res, 0, fmt.Errorf("round %d, %s: %w\n%s", n, m, err, srv.Output())
			}
			if res.other > o.MaxOther {
				// Said after every disturbed run, the last one included.
				fmt.Fprintf(progress, "round %d %s: other processes used %.0f%% of the machine; measuring again\n", n, m, 100*res.other)
			}
			return res, res.other, nil
		}, nil)
		if err != nil {
			return rd, waits, err
		}
		rd.tries[m] = tries
		rd.runs[m] = best
		r := best
		line := fmt.Sprintf("round %d %-5s answer p50 %.3f p99 %.3f ms", n, m, ms(pct(r.answer, 50)), ms(pct(r.answer, 99)))
		if m == modeAsync {
			line += fmt.Sprintf("  202→reply p50 %.3f p99 %.3f ms  e2e p50 %.3f p99 %.3f ms",
				ms(pct(r.push, 50)), ms(pct(r.push, 99)), ms(pct(r.e2e, 50)), ms(pct(r.e2e, 99)))
		}
		fmt.Fprintf(progress, "%s  failed %d  other %.0f%%\n", line, r.failed, 100*r.other)
		if r.firstErr != nil {
			fmt.Fprintf(progress, "  first error: %v\n", r.firstErr)
		}
	}
	return rd, waits, nil
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

// machine describes where the numbers were taken, with the tree built.
type machine struct {
	harness.Machine
	tree string
}

func describeMachine(ctx context.Context) machine {
	return machine{Machine: harness.DescribeMachine(ctx), tree: harness.Tree(ctx, ".", true)}
}
