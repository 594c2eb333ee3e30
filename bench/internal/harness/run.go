package harness

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Benchmarks are the names of the processes that load the machine while they measure: the
// benchmark commands, wrk and a `go test -bench` of bench/. A measurement waits its turn until
// none of them runs but its own command (see Run.WaitTurn).
var Benchmarks = []string{"edgebench", "triggerbench", "wsbench", "asyncbench", "devbench", "sandboxbench", "rpcbench", "schedbench", "scalebench", "wsfnbench", "wrk", "bench.test"}

// Run is one run of a benchmark command, from its start to its report: the shared flags, where
// progress goes, the temporary folder and the programs built into it, and what the report says
// around the figures (the machine, the tree built, when it ran, how long it waited for a quiet
// machine). Command.Main starts one for the command's body.
type Run struct {
	// Options are the shared flags.
	Options
	// CommandLine is how the command was run, for the report (see Command.CommandLine).
	CommandLine string
	// Out receives the report, and Log progress and the figures of each measurement as it
	// ends.
	Out, Log io.Writer
	// Tmp is the run's temporary folder, removed at the end unless -keep.
	Tmp string
	// Bins are the paths of the command's Programs, in order.
	Bins []string
	// Repo is the root of the repository the working directory is in; "" outside one.
	Repo string
	// Machine and Tree say where the figures were taken and what the binaries were built from.
	Machine Machine
	Tree    string
	// Started and Finished bound the run (UTC); Publish sets Finished.
	Started, Finished time.Time
	// Waits record each wait for the machine's turn (WaitTurn), for QuietNote.
	Waits []QuietWait

	cmd     Command
	cleanup func()
}

// Start begins a run of c with the shared options o, the command line parsed from fs: it
// makes the temporary folder, builds c.Programs into it (or takes them from -prebuilt), and
// describes the machine and the tree. The caller closes the run.
func (c Command) Start(ctx context.Context, fs *flag.FlagSet, o Options, out, log io.Writer) (*Run, error) {
	r := &Run{Options: o, CommandLine: c.CommandLine(fs), Out: out, Log: log, cmd: c, cleanup: func() {}}
	repo, err := RepoRoot(ctx)
	r.Repo = repo
	r.Tree = "binaries built beforehand"
	if o.Prebuilt == "" {
		if err != nil {
			return nil, err
		}
		r.Tree = Tree(ctx, r.Repo)
	}
	if r.Tmp, err = os.MkdirTemp("", c.Name+"-"); err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintln(log, "keeping", r.Tmp)
	} else {
		r.cleanup = func() { os.RemoveAll(r.Tmp) }
	}
	switch {
	case len(c.Programs) == 0:
	case o.Prebuilt != "":
		r.Bins, err = FindPrograms(o.Prebuilt, c.Programs...)
	default:
		fmt.Fprintf(log, "building %s from %s\n", c.programNames(), r.Tree)
		r.Bins, err = BuildPrograms(ctx, r.Repo, r.Tmp, c.Programs...)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Machine = DescribeMachine(ctx)
	r.Started = time.Now().UTC()
	return r, nil
}

// Close removes the temporary folder, unless -keep.
func (r *Run) Close() { r.cleanup() }

// Logf writes one line of progress.
func (r *Run) Logf(format string, args ...any) {
	fmt.Fprintf(r.Log, format+"\n", args...)
}

// Publish ends the run: it records when the run finished and the load average then, renders
// the report, prints it on Out and writes it into the README of -write (see WriteSection).
func (r *Run) Publish(report func() string) error {
	r.Finished = time.Now().UTC()
	r.Machine.LoadAfter = LoadAvg()
	text := report()
	fmt.Fprint(r.Out, text)
	if !strings.HasSuffix(text, "\n") {
		fmt.Fprintln(r.Out)
	}
	return r.cmd.WriteSection(r.Write, text, r.Log)
}

// WaitTurn waits until no other benchmark runs (a process named in Benchmarks, this one
// excepted; up to 15 minutes), then until the machine's CPU has been at most -quiet busy for a
// second (up to -quiet-wait), and records the wait for the report. It says on the log when it
// waits for another benchmark, and when it measures on a machine still busier than -quiet.
func (r *Run) WaitTurn(ctx context.Context) error {
	start := time.Now()
	logged := false
	for time.Since(start) < 15*time.Minute {
		pids := slices.DeleteFunc(PidsNamed(Benchmarks...), func(pid int) bool { return pid == os.Getpid() })
		if len(pids) == 0 {
			break
		}
		if !logged {
			r.Logf("another benchmark is running (pids %v); waiting for it to finish", pids)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	busy, _, err := WaitQuiet(ctx, r.Quiet, r.QuietWait)
	if err != nil {
		return err
	}
	if busy > r.Quiet {
		r.Logf("the machine is still %.0f%% busy after %s; measuring anyway", 100*busy, r.QuietWait)
	}
	r.Waits = append(r.Waits, QuietWait{Waited: time.Since(start), Busy: busy})
	return nil
}

// Measure makes one measurement the way every benchmark makes them: run (given the attempt's
// number, from 1) measures once and returns its result and the share of the machine other
// processes used meanwhile; a run they disturbed is made again, saying so on the log after
// what, up to -attempts runs (see LeastDisturbed). run waits its turn (WaitTurn) where its
// timed part starts. Measure returns the least disturbed run, that share and the runs made.
func Measure[T any](r *Run, what string, run func(attempt int) (T, float64, error)) (best T, other float64, runs int, err error) {
	return LeastDisturbed(r.Options, run, func(other float64) error {
		r.Logf("%s: other processes used %.0f%% of the machine; measuring again", what, 100*other)
		return nil
	})
}

// Preamble is the report's opening: when and on what machine the run measured (tools, such as
// wrk's or a broker's version, follow the Go version), how it was run (n of unit, such as 3
// "round", and how long it took) and how long its measurements waited for their turn.
func (r *Run) Preamble(n int, unit string, tools ...string) string {
	m := r.Machine
	kernel := "Linux " + m.Kernel
	if m.Memory != "" {
		kernel += ", " + m.Memory + " of memory"
	}
	setting := slices.Concat([]string{m.GoVersion}, tools)
	if n != 1 {
		unit += "s"
	}
	var b []byte
	b = fmt.Appendf(b, "Measured %s on %d × %s (%s), %s. Load average before %s, after %s.\n\n",
		r.Started.Format("2006-01-02 15:04 MST"), m.CPUs, m.Model, kernel, strings.Join(setting, ", "), m.LoadBefore, m.LoadAfter)
	b = fmt.Appendf(b, "Command: `%s` (%d %s; took %s), on %s.\n\n", r.CommandLine, n, unit,
		r.Finished.Sub(r.Started).Round(time.Second), r.Tree)
	b = append(b, QuietNote(r.Waits, "other benchmarks to end and for the machine", r.Quiet, r.QuietWait)...)
	return string(b)
}

// Retried is the report's sentence on the runs measured again, after a summary table.
func (r *Run) Retried() string {
	return fmt.Sprintf("A run during which other processes used more than %.0f%% of the machine was measured again "+
		"(up to %d times, keeping the least disturbed)", 100*r.MaxOther, r.Attempts)
}

// OtherLoad formats share as OtherLoad does, against -max-other.
func (r *Run) OtherLoad(share float64) string { return OtherLoad(share, r.MaxOther) }
