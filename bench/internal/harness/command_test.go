package harness

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testCommand = Command{Name: "xbench", Section: "x-results", Programs: HelloPrograms, Attempts: 3}

func TestWriteSectionBetweenTheCommandsMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	before := "# bench\n<!-- x-results:start -->\nOLD\n<!-- x-results:end -->\ntail\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := testCommand.WriteSection(path, "NEW", io.Discard); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "# bench\n<!-- x-results:start -->\nNEW\n<!-- x-results:end -->\ntail\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := testCommand.WriteSection("", "NEW", io.Discard); err != nil {
		t.Errorf("no -write: %v", err)
	}
}

func TestFlagsAndCommandLine(t *testing.T) {
	var o Options
	var rounds int
	fs := flag.NewFlagSet("xbench", flag.ContinueOnError)
	fs.IntVar(&rounds, "rounds", 3, "rounds")
	testCommand.Flags(fs, &o)
	if got, want := fs.Lookup("prebuilt").Usage, "folder with edgefn, hello, rawfiber and hello-gobuild already built (default: build them)"; got != want {
		t.Errorf("-prebuilt usage %q, want %q", got, want)
	}
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if got, want := testCommand.CommandLine(fs), "go run ./bench/cmd/xbench"; got != want {
		t.Errorf("defaults: %q, want %q", got, want)
	}
	if err := fs.Parse([]string{"-rounds", "1", "-quiet-wait", "2m", "-attempts", "1", "-keep", "-write", "R.md"}); err != nil {
		t.Fatal(err)
	}
	if got, want := testCommand.CommandLine(fs), "go run ./bench/cmd/xbench -attempts 1 -quiet-wait 2m0s -rounds 1 -write R.md"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if o.QuietWait != 2*time.Minute || o.Attempts != 1 || o.Quiet != defaultQuiet || !o.Keep {
		t.Errorf("parsed %+v", o)
	}
	if err := o.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestOptionsCheck(t *testing.T) {
	bad := Options{Attempts: 0, Quiet: 1.5, MaxOther: 0.25, QuietWait: -time.Second}
	err := bad.Check()
	want := "-attempts must be positive\n-quiet and -max-other are shares of the machine, from 0 to 1\n-quiet-wait must not be negative"
	if err == nil || err.Error() != want {
		t.Errorf("Check = %v, want %q", err, want)
	}
}

func TestMainRefusesAnInvalidCommandLineBeforeItRuns(t *testing.T) {
	o := Options{Attempts: 1}
	var stderr strings.Builder
	ran := false
	code := testCommand.main(flag.NewFlagSet("xbench", flag.ContinueOnError), &o,
		func() error { return errors.New("-rounds must be positive") },
		func(context.Context, *Run) error { ran = true; return nil }, io.Discard, &stderr)
	if code != 2 || ran {
		t.Errorf("exit %d, body ran %v; want 2 and not run", code, ran)
	}
	if got, want := stderr.String(), "xbench: -rounds must be positive\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

func TestMainRunsTheBodyInATemporaryFolderItRemoves(t *testing.T) {
	c := Command{Name: "xbench", Section: "x-results", Attempts: 1} // no programs to build
	fs := flag.NewFlagSet("xbench", flag.ContinueOnError)
	var o Options
	c.Flags(fs, &o)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	var tmp string
	var stderr strings.Builder
	code := c.main(fs, &o, func() error { return nil }, func(_ context.Context, r *Run) error {
		tmp = r.Tmp
		if _, err := os.Stat(tmp); err != nil {
			t.Errorf("the temporary folder is not there during the run: %v", err)
		}
		return errors.New("boom")
	}, io.Discard, &stderr)
	if code != 1 || stderr.String() != "xbench: boom\n" {
		t.Errorf("exit %d, stderr %q; want 1 and the body's error", code, stderr.String())
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary folder %q outlived the run: %v", tmp, err)
	}
}

func TestPublishWritesTheReportAfterTheRunFinished(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte("<!-- x-results:start -->\n<!-- x-results:end -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	started := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	r := &Run{
		Options:     Options{Write: path, Quiet: 0.15, QuietWait: time.Minute, MaxOther: 0.25, Attempts: 3},
		CommandLine: "go run ./bench/cmd/xbench -rounds 1",
		Out:         &out, Log: io.Discard, cmd: testCommand,
		Machine: Machine{CPUs: 2, Model: "CPU", Kernel: "6.1", GoVersion: "go1.26.0", Memory: "7.8 GiB", LoadBefore: "0.1 0.2 0.3"},
		Tree:    "commit abc1234", Started: started,
		Waits: []QuietWait{{Waited: 2 * time.Second, Busy: 0.05}},
	}
	err := r.Publish(func() string {
		if r.Finished.IsZero() {
			t.Error("the report was rendered before the run finished")
		}
		r.Finished = started.Add(90 * time.Second) // a fixed duration for the text below
		return r.Preamble(1, "round", "wrk 4.1.0")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "Measured 2026-01-02 03:04 UTC on 2 × CPU (Linux 6.1, 7.8 GiB of memory), go1.26.0, wrk 4.1.0. Load average before 0.1 0.2 0.3, after " +
		r.Machine.LoadAfter + ".\n\n" +
		"Command: `go run ./bench/cmd/xbench -rounds 1` (1 round; took 1m30s), on commit abc1234.\n\n" +
		"Each measurement waited for other benchmarks to end and for the machine to be at most 15% busy for a second (2s of waiting in all).\n\n"
	if out.String() != want {
		t.Errorf("stdout\n%q\nwant\n%q", out.String(), want)
	}
	got, _ := os.ReadFile(path)
	if wantFile := "<!-- x-results:start -->\n" + want + "\n<!-- x-results:end -->\n"; string(got) != wantFile {
		t.Errorf("README\n%q\nwant\n%q", got, wantFile)
	}
}

func TestOnly(t *testing.T) {
	all := Only{Groups: []string{"fanout", "deliveries"}}
	some := Only{Groups: all.Groups, List: "deliveries"}
	if !all.Runs("fanout") || some.Runs("fanout") || !some.Runs("deliveries") {
		t.Error("Runs: -only not honoured")
	}
	if err := some.Check(); err != nil {
		t.Error(err)
	}
	bad := Only{Groups: all.Groups, List: "fanout,memory,x"}
	want := "-only: unknown group \"memory\" (want fanout, deliveries)\n-only: unknown group \"x\" (want fanout, deliveries)"
	if err := bad.Check(); err == nil || err.Error() != want {
		t.Errorf("Check = %v, want %q", err, want)
	}
}
