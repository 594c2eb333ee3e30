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
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes edgebench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "edgebench", Section: "results", Programs: harness.HelloPrograms, Attempts: 3}

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
	// Options are the flags every benchmark command has. MaxOther applies to the throughput,
	// latency and cold start runs.
	harness.Options
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
	cmd.Main(&o.Options, o.validate, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

// validate checks the flags, and that wrk is there before anything is built.
func (o *options) validate() error {
	var errs []error
	if o.rounds < 1 || o.coldStarts < 1 || o.rate < 1 || o.conns < 1 || o.threads < 1 {
		errs = append(errs, errors.New("-rounds, -coldstarts, -rate, -conns and -threads must be positive"))
	}
	_, err := harness.LookWrk()
	return errors.Join(append(errs, err)...)
}

func run(ctx context.Context, o options, r *harness.Run) error {
	wrk, err := harness.LookWrk()
	if err != nil {
		return err
	}
	b := bench{opts: o, run: r, wrk: wrk, bins: harness.HelloBinaries(r.Bins)}
	rep := report{opts: o, run: r, wrkVersion: harness.WrkVersion(ctx, wrk)}
	if rep.rounds, err = harness.Rounds(ctx, o.rounds, b.round); err != nil {
		return err
	}
	if rep.cold, err = b.coldStarts(ctx); err != nil {
		return err
	}
	if err := r.Publish(rep.markdown); err != nil {
		return err
	}
	if !rep.valid() {
		return errors.New("some requests failed: the numbers above are not valid")
	}
	return nil
}
