// Command devbench measures edgefn's edit-to-live time (issue 7): how long after a save a
// function's change answers on its route, with `edgefn dev` watching it, in one run on one
// machine:
//
//   - it scaffolds a function with `edgefn new` inside the checkout (so it builds against the
//     checkout's own edgefn, as in the README tour), starts `edgefn serve` (embedded backends,
//     log level warn) and `edgefn dev` on the function's manifest, and waits for the first
//     deploy;
//   - it then edits the handler's answer -edits times (10); each edit waits for a quiet
//     machine, writes main.go and polls the route every 2 ms until the new answer shows. The
//     time from the write to that answer is the edit-to-live time; `edgefn dev`'s own line for
//     the deploy splits it into its build, its deploy (upload, start, ready) and the rest
//     (the debounce, the file watch and the poll);
//   - the baseline is the floor no `dev` can go under: the same `go build` (-trimpath,
//     -ldflags=-s -w, as edgefn builds functions) of the same edit by itself, measured
//     -edits times before dev starts.
//
// Each edit and each baseline build waits for a quiet machine (-quiet, -quiet-wait) and for
// the other benchmark commands to finish. -max-other and -attempts have no effect here: the
// CPU of the go build that dev runs (its grandchildren) cannot be told from other processes'.
//
// It reports p50, p90 and the maximum of each, the ratio of the p50s and the goal (p90 under
// 2 s) as markdown, and with -write FILE replaces the part of FILE between
// <!-- dev-results:start --> and <!-- dev-results:end --> (appended when missing) with it.
//
// Usage, from the repository:
//
//	go run ./bench/cmd/devbench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes devbench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "devbench", Section: "dev-results", Attempts: 1,
	Programs: []harness.Program{harness.Edgefn}}

// goal is the edit-to-live time the p90 must stay under.
const goal = 2 * time.Second

// options are devbench's flags.
type options struct {
	edits   int
	timeout time.Duration
	// Options are the flags every benchmark command has.
	harness.Options
}

func main() {
	var o options
	flag.IntVar(&o.edits, "edits", 10, "edits measured, and go builds of the baseline")
	flag.DurationVar(&o.timeout, "timeout", time.Minute, "longest wait for one edit to go live")
	cmd.Main(&o.Options, o.validate, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

func (o *options) validate() error {
	if o.edits < 1 || o.timeout <= 0 {
		return errors.New("-edits and -timeout must be positive")
	}
	return nil
}

func run(ctx context.Context, o options, r *harness.Run) error {
	edgefn := r.Bins[0]
	if r.Repo == "" {
		return errors.New("not inside the edgefn module: run from the repository")
	}
	rep := report{opts: o, run: r}
	fnDir, removeFn, err := scaffold(ctx, edgefn, r.Repo)
	if err != nil {
		return err
	}
	defer removeFn()
	if rep.baseline, err = baseline(ctx, o, r, fnDir); err != nil {
		return err
	}
	s, err := startSession(ctx, edgefn, fnDir, r.Tmp)
	if err != nil {
		return err
	}
	defer s.stop()
	rep.first = s.first
	r.Logf("first deploy (cold build) %s, plugin binary %.1f MB", s.first.Round(time.Millisecond), float64(rep.baseline.size)/1e6)
	for n := 1; n <= o.edits; n++ {
		if err := r.WaitTurn(ctx); err != nil {
			return err
		}
		e, err := s.edit(ctx, n, o.timeout)
		if err != nil {
			return fmt.Errorf("edit %d: %w\n%s", n, err, s.output())
		}
		r.Logf("edit %d: live after %s (build %s, deploy %s)", n, ms(e.live), ms(e.build), ms(e.deploy))
		rep.edits = append(rep.edits, e)
	}
	return r.Publish(rep.markdown)
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", harness.Millis(d)) }
