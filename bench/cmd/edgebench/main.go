// Command edgebench measures what edgefn costs against a raw Fiber server doing the same work
// (bench/rawfiber), in one run on one machine:
//
//   - throughput of GET /hello/x with wrk, edgefn running functions/hello as a plugin against
//     the baseline's in-process handler, as a ratio;
//   - latency at a fixed moderate rate with an open-loop sender that times each request from
//     its due time (no coordinated omission), as p50/p99/p99.9 differences;
//   - cold start: from a deploy of a function with a fresh route (admin API and CLI) to its
//     first 200, median of N.
//
// It builds everything it runs into a temporary folder, runs each server alone (one is stopped
// before the other starts), alternates them for several rounds and reports medians with the
// range across rounds as a markdown table. The machine may be shared: each measurement waits
// for the CPU to be quiet first, and a run during which other processes took more than a set
// share of the CPU is measured again. With -write FILE it also replaces the part of FILE
// between <!-- results:start --> and <!-- results:end --> with that report.
//
// Usage, from the repository:
//
//	go run ./bench/cmd/edgebench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// options are edgebench's flags.
type options struct {
	// rounds is how many times each target is measured, alternating.
	rounds int
	// threads, conns and duration are wrk's -t, -c and -d; warmup is a shorter wrk run first.
	threads, conns   int
	duration, warmup time.Duration
	// rate and latencyDuration set the open-loop latency run.
	rate            int
	latencyDuration time.Duration
	// coldStarts is how many deploys each of the API and the CLI cold start takes.
	coldStarts int
	// write is the README whose results section is replaced; empty writes nothing.
	write string
	// keep keeps the temporary folder (binaries, data dirs) for inspection.
	keep bool
	// prebuilt, when set, is a folder with edgefn, hello and rawfiber already built.
	prebuilt string
	// quiet is the busy share of the machine's CPU under which a measurement may start, and
	// quietWait how long to wait for it before starting anyway.
	quiet     float64
	quietWait time.Duration
	// maxOther is the share of the machine other processes may use during a throughput or
	// latency run before it is measured again, up to attempts runs in all.
	maxOther float64
	attempts int
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; each measures the baseline, then edgefn")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	flag.IntVar(&o.conns, "conns", 64, "wrk connections (-c), also the open-loop senders")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "wrk run length (-d)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "wrk warm-up before each measurement, not recorded")
	flag.IntVar(&o.rate, "rate", 2000, "open-loop rate, requests per second")
	flag.DurationVar(&o.latencyDuration, "latency-duration", 10*time.Second, "open-loop run length")
	flag.IntVar(&o.coldStarts, "coldstarts", 20, "cold starts through the admin API, and as many through the CLI")
	flag.StringVar(&o.write, "write", "", "README whose results section to rewrite (e.g. bench/README.md)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder")
	flag.Float64Var(&o.quiet, "quiet", 0.15, "start a measurement only once the machine's CPU is at most this busy (0 to 1)")
	flag.DurationVar(&o.quietWait, "quiet-wait", time.Minute, "longest wait for -quiet before measuring anyway")
	flag.Float64Var(&o.maxOther, "max-other", 0.25, "measure a run again when other processes used more than this share of the machine (0 to 1)")
	flag.IntVar(&o.attempts, "attempts", 3, "most runs of one measurement while others disturb it; the least disturbed is kept")
	flag.StringVar(&o.prebuilt, "prebuilt", "", "folder with edgefn, hello and rawfiber already built (default: build them)")
	flag.Parse()
	if o.rounds < 1 || o.coldStarts < 1 || o.rate < 1 || o.conns < 1 || o.threads < 1 || o.attempts < 1 {
		fmt.Fprintln(os.Stderr, "edgebench: -rounds, -coldstarts, -rate, -conns, -threads and -attempts must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout, progress io.Writer) error {
	wrk, err := harness.LookWrk()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "edgebench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(progress, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bins, tree, err := binaries(ctx, o, tmp, progress)
	if err != nil {
		return err
	}
	rep := report{opts: o, machine: describeMachine(ctx, wrk), tree: tree, started: time.Now().UTC()}
	b := bench{opts: o, wrk: wrk, bins: bins, tmp: tmp, log: progress}
	for r := 1; r <= o.rounds; r++ {
		raw, err := b.measure(ctx, r, target{name: "rawfiber", start: harness.StartRawFiber})
		if err != nil {
			return err
		}
		edge, err := b.measure(ctx, r, target{name: "edgefn", start: b.startEdgefn, notFound: true})
		if err != nil {
			return err
		}
		rep.rounds = append(rep.rounds, round{raw: raw, edge: edge})
	}
	if rep.cold, err = b.coldStarts(ctx); err != nil {
		return err
	}
	rep.waits = b.waits
	rep.finished = time.Now().UTC()
	rep.machine.loadAfter = harness.LoadAvg()
	text := rep.markdown()
	fmt.Fprint(stdout, text)
	if o.write != "" {
		if err := harness.RewriteSection(o.write, startMarker, endMarker, text); err != nil {
			return err
		}
		fmt.Fprintln(progress, "wrote the results section of", o.write)
	}
	if !rep.valid() {
		return errors.New("some requests failed: the numbers above are not valid")
	}
	return nil
}

// binaries builds what the run needs into tmp, or takes it from -prebuilt, and says what it
// was built from.
func binaries(ctx context.Context, o options, tmp string, progress io.Writer) (harness.Binaries, string, error) {
	if o.prebuilt != "" {
		bins, err := harness.Prebuilt(o.prebuilt)
		return bins, "binaries built beforehand", err
	}
	repo, err := harness.RepoRoot(ctx)
	if err != nil {
		return harness.Binaries{}, "", err
	}
	tree := describeTree(ctx, repo)
	fmt.Fprintln(progress, "building edgefn, functions/hello and bench/rawfiber from", tree)
	bins, err := harness.Build(ctx, repo, tmp)
	return bins, tree, err
}
