// Command sandboxbench measures what the sandbox costs (docs/security.md): HTTP throughput of
// the hello function and its cold start, through `edgefn serve --sandbox=on` and
// `--sandbox=off`, in one run on one machine. Each round starts a fresh gateway per setting
// (which goes first alternates), measures wrk's throughput on GET /hello/x after a warm-up,
// then deploys hello -coldstarts times through the admin API and times each deploy until its
// route first answers. It reports the medians over the rounds with the lowest and highest, and
// with -write FILE replaces the part of FILE between <!-- sandbox:start --> and
// <!-- sandbox:end --> (appended when missing) with that report.
//
// Usage, from the repository:
//
//	go run ./bench/cmd/sandboxbench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes sandboxbench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "sandboxbench", Section: "sandbox", Attempts: 3, Programs: harness.HelloPrograms}

// Issue 18's bounds: the sandbox may cost at most this share of throughput and this much
// cold start.
const (
	maxThroughputCost = 0.10
	maxColdStartCost  = 15 * time.Millisecond
)

type options struct {
	rounds, threads, conns, coldStarts int
	duration, warmup                   time.Duration
	harness.Options
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures both settings")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	flag.IntVar(&o.conns, "conns", 64, "wrk connections (-c)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "wrk run length (-d)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "wrk warm-up before each measurement, not recorded")
	flag.IntVar(&o.coldStarts, "coldstarts", 20, "cold starts per setting and round")
	cmd.Main(&o.Options, o.validate, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

func (o *options) validate() error {
	var errs []error
	if o.rounds < 1 || o.threads < 1 || o.conns < 1 || o.coldStarts < 1 {
		errs = append(errs, errors.New("-rounds, -threads, -conns and -coldstarts must be positive"))
	}
	_, err := harness.LookWrk()
	return errors.Join(append(errs, err)...)
}

// setting is one way of running the gateway: its flag's value.
var settings = []string{"on", "off"}

// result is one setting's measurements in one round.
type result struct {
	rps float64
	// cold is the median cold start of the round's deploys; isolation what serve said.
	cold      time.Duration
	isolation string
}

// round holds a result per setting, in the order of settings.
type round [2]result

func run(ctx context.Context, o options, r *harness.Run) error {
	wrk, err := harness.LookWrk()
	if err != nil {
		return err
	}
	bins := harness.HelloBinaries(r.Bins)
	rounds, err := harness.Rounds(ctx, o.rounds, func(ctx context.Context, n int) (round, error) {
		var rd round
		order := []int{0, 1}
		if n%2 == 0 {
			slices.Reverse(order)
		}
		for _, i := range order {
			res, err := measure(ctx, o, r, wrk, bins, settings[i])
			if err != nil {
				return rd, err
			}
			r.Logf("round %d sandbox=%-3s %9.0f req/s, cold start %s", n, settings[i], res.rps, res.cold.Round(10*time.Microsecond))
			rd[i] = res
		}
		return rd, nil
	})
	if err != nil {
		return err
	}
	return r.Publish(func() string { return markdown(o, r, rounds, harness.WrkVersion(ctx, wrk)) })
}

// measure starts a gateway with --sandbox=setting and measures it.
func measure(ctx context.Context, o options, r *harness.Run, wrk string, bins harness.Binaries, setting string) (result, error) {
	var res result
	srv, err := harness.Serve{Edgefn: bins.Edgefn, Dir: r.Tmp, Name: "sandbox-" + setting,
		Manifest: fmt.Sprintf("name: hello\nhandler: %s\nconcurrency: 1000\ntriggers:\n  - http: {method: GET, path: \"/hello/{name}\"}\n", bins.Hello),
		Flags:    []string{"--sandbox", setting, "--log-level", "info"}}.Start(ctx, harness.Check{Path: "/hello/x", Status: 200})
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	for line := range strings.Lines(srv.Output()) {
		if _, rest, ok := strings.Cut(line, `"msg":"sandbox","isolation":"`); ok {
			res.isolation, _, _ = strings.Cut(rest, `"`)
		}
	}
	if setting == "off" {
		res.isolation = "off"
	}
	w := harness.Wrk{Path: wrk, Threads: o.threads, Conns: o.conns, Duration: o.warmup}
	url := srv.URL + "/hello/x"
	if _, err := w.Run(ctx, url); err != nil {
		return res, err
	}
	w.Duration = o.duration
	tp, _, _, err := harness.Measure(r, "sandbox="+setting+" hello", func(int) (harness.WrkResult, float64, error) {
		if err := r.WaitTurn(ctx); err != nil {
			return harness.WrkResult{}, 0, err
		}
		before := harness.Snapshot(srv)
		res, err := w.Run(ctx, url)
		return res, harness.Snapshot(srv).Since(before).Other(), err
	})
	if err != nil {
		return res, err
	}
	if tp.Non2xx > 0 || tp.SocketErrors > 0 {
		return res, fmt.Errorf("sandbox=%s: %d non-2xx answers, %d socket errors", setting, tp.Non2xx, tp.SocketErrors)
	}
	res.rps = tp.RPS
	dir, err := os.MkdirTemp(r.Tmp, "cold-")
	if err != nil {
		return res, err
	}
	cs := harness.ColdStart{Server: srv.URL, Binary: bins.Hello, Dir: dir}
	if err := r.WaitTurn(ctx); err != nil {
		return res, err
	}
	var colds []time.Duration
	for i := range o.coldStarts {
		name := fmt.Sprintf("cold-%d", i)
		s, err := cs.Once(ctx, name)
		if err != nil {
			return res, fmt.Errorf("%w\n%s", err, srv.Output())
		}
		colds = append(colds, s.FirstOK)
		if err := cs.Delete(ctx, name); err != nil {
			return res, err
		}
	}
	slices.Sort(colds)
	res.cold = harness.Percentile(colds, 50)
	return res, nil
}

func markdown(o options, r *harness.Run, rounds []round, wrkVersion string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### The sandbox's cost\n\n%s", r.Preamble(len(rounds), "round", wrkVersion))
	each := func(i int, f func(result) float64) harness.Summary {
		xs := make([]float64, len(rounds))
		for k, rd := range rounds {
			xs[k] = f(rd[i])
		}
		return harness.Summarize(xs)
	}
	ratio := make([]float64, len(rounds))
	coldDelta := make([]float64, len(rounds))
	for k, rd := range rounds {
		ratio[k] = rd[0].rps / rd[1].rps
		coldDelta[k] = harness.Millis(rd[0].cold - rd[1].cold)
	}
	rps := func(rs result) float64 { return rs.rps }
	cold := func(rs result) float64 { return harness.Millis(rs.cold) }
	fmt.Fprintf(&b, "GET /hello/x through `edgefn serve`, wrk -t%d -c%d -d%s; cold start: a deploy of hello through the admin API until its route first answers, the median of %d per round.\n\n",
		o.threads, o.conns, o.duration, o.coldStarts)
	b.WriteString("| | sandbox on | sandbox off | on ÷ off, or on − off | bound |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| throughput, req/s | %s | %s | %s | ≥ %.2f |\n", each(0, rps).Thousands(), each(1, rps).Thousands(),
		harness.Summarize(ratio).Format(3, false), 1-maxThroughputCost)
	fmt.Fprintf(&b, "| cold start, ms | %s | %s | %s | ≤ +%d |\n\n", each(0, cold).Format(2, false), each(1, cold).Format(2, false),
		harness.Summarize(coldDelta).Format(2, true), maxColdStartCost.Milliseconds())
	fmt.Fprintf(&b, "The sandbox here: %s.\n", rounds[0][0].isolation)
	return b.String()
}
