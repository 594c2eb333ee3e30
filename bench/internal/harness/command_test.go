package harness

import (
	"flag"
	"io"
	"os"
	"path/filepath"
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
	fs := flag.NewFlagSet("xbench", flag.ContinueOnError)
	testCommand.Flags(fs, &o)
	if got, want := fs.Lookup("prebuilt").Usage, "folder with edgefn, hello, rawfiber and hello-gobuild already built (default: build them)"; got != want {
		t.Errorf("-prebuilt usage %q, want %q", got, want)
	}
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cl := testCommand.CommandLine()
	cl.AddShared(o)
	if got, want := cl.String(), "go run ./bench/cmd/xbench"; got != want {
		t.Errorf("defaults: %q, want %q", got, want)
	}
	if err := fs.Parse([]string{"-quiet-wait", "2m", "-attempts", "1", "-write", "R.md"}); err != nil {
		t.Fatal(err)
	}
	cl = testCommand.CommandLine()
	cl.Add(true, "rounds", 1)
	cl.AddShared(o)
	if got, want := cl.String(), "go run ./bench/cmd/xbench -rounds 1 -quiet-wait 2m0s -attempts 1 -write R.md"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if o.QuietWait != 2*time.Minute || o.Attempts != 1 || o.Quiet != defaultQuiet {
		t.Errorf("parsed %+v", o)
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
