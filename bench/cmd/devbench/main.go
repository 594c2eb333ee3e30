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
	"io"
	"os"
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
	cmd.Flags(flag.CommandLine, &o.Options)
	flag.Parse()
	var invalid error
	if o.edits < 1 || o.timeout <= 0 || o.Attempts < 1 {
		invalid = errors.New("-edits, -timeout and -attempts must be positive")
	}
	cmd.Main(invalid, func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) })
}

func run(ctx context.Context, o options, stdout, progress io.Writer) error {
	tmp, cleanup, err := cmd.TempDir(o.Keep, progress)
	if err != nil {
		return err
	}
	defer cleanup()
	bins, err := cmd.Build(ctx, o.Prebuilt, tmp, progress, "edgefn")
	if err != nil {
		return err
	}
	repo, err := harness.RepoRoot(ctx)
	if err != nil {
		return err
	}
	rep := report{opts: o, machine: harness.DescribeMachine(ctx), tree: harness.Tree(ctx, ".", true), started: time.Now().UTC()}
	fnDir, removeFn, err := scaffold(ctx, bins[0], repo)
	if err != nil {
		return err
	}
	defer removeFn()
	if rep.baseline, err = baseline(ctx, o, fnDir, tmp, progress, &rep.waits); err != nil {
		return err
	}
	s, err := startSession(ctx, bins[0], fnDir, tmp)
	if err != nil {
		return err
	}
	defer s.stop()
	rep.first = s.first
	fmt.Fprintf(progress, "first deploy (cold build) %s, plugin binary %.1f MB\n", s.first.Round(time.Millisecond), float64(rep.baseline.size)/1e6)
	for n := 1; n <= o.edits; n++ {
		w, err := o.WaitTurn(ctx, progress, "edgebench", "triggerbench", "wsbench", "asyncbench")
		if err != nil {
			return err
		}
		rep.waits = append(rep.waits, w)
		e, err := s.edit(ctx, n, o.timeout)
		if err != nil {
			return fmt.Errorf("edit %d: %w\n%s", n, err, s.output())
		}
		fmt.Fprintf(progress, "edit %d: live after %s (build %s, deploy %s)\n", n, ms(e.live), ms(e.build), ms(e.deploy))
		rep.edits = append(rep.edits, e)
	}
	rep.finished = time.Now().UTC()
	rep.machine.LoadAfter = harness.LoadAvg()
	text := rep.markdown()
	fmt.Fprint(stdout, text+"\n")
	return cmd.WriteSection(o.Write, text, progress)
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", harness.Millis(d)) }
