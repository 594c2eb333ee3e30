package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Command describes one benchmark command to the scaffolding the commands share: their common
// flags, the temporary folder, the binaries they build and the README section they rewrite.
type Command struct {
	// Name is the command's name, such as "wsbench": it leads its error messages, prefixes its
	// temporary folder and names its package, ./bench/cmd/NAME.
	Name string
	// Section names the part of the README that the command's report replaces: the lines
	// between <!-- SECTION:start --> and <!-- SECTION:end -->.
	Section string
	// Programs are the binaries the command runs, built from the repository or taken from
	// -prebuilt.
	Programs []Program
	// Attempts is the default of -attempts.
	Attempts int
}

// Main runs the command: it defines the shared flags (Flags) on flag.CommandLine, next to
// the command's own, parses the command line into them and checks it with validate and
// Options.Check. An invalid command line exits 2 without running. Otherwise Main starts a Run
// (Start), calls body with it and a context that SIGINT and SIGTERM cancel, and closes the run;
// a body or a start that fails exits 1. Both errors are printed after the command's name.
func (c Command) Main(o *Options, validate func() error, body func(context.Context, *Run) error) {
	c.Flags(flag.CommandLine, o)
	flag.Parse()
	os.Exit(c.main(flag.CommandLine, o, validate, body, os.Stdout, os.Stderr))
}

func (c Command) main(fs *flag.FlagSet, o *Options, validate func() error, body func(context.Context, *Run) error, stdout, stderr io.Writer) int {
	if err := errors.Join(validate(), o.Check()); err != nil {
		fmt.Fprintln(stderr, c.Name+":", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, fs, *o, body, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, c.Name+":", err)
		return 1
	}
	return 0
}

func (c Command) run(ctx context.Context, fs *flag.FlagSet, o Options, body func(context.Context, *Run) error, stdout, stderr io.Writer) error {
	r, err := c.Start(ctx, fs, o, stdout, stderr)
	if err != nil {
		return err
	}
	defer r.Close()
	return body(ctx, r)
}

// WriteSection replaces the command's section of the README at path with text (see
// RewriteSection) and says so on progress. An empty path (no -write) writes nothing.
func (c Command) WriteSection(path, text string, progress io.Writer) error {
	if path == "" {
		return nil
	}
	start, end := "<!-- "+c.Section+":start -->", "<!-- "+c.Section+":end -->"
	if err := RewriteSection(path, start, end, text); err != nil {
		return err
	}
	fmt.Fprintln(progress, "wrote the", c.Section, "section of", path)
	return nil
}

// Rounds measures rounds 1 to n in turn and returns them, stopping at the first that fails.
func Rounds[R any](ctx context.Context, n int, round func(ctx context.Context, n int) (R, error)) ([]R, error) {
	var rounds []R
	for i := 1; i <= n; i++ {
		rd, err := round(ctx, i)
		if err != nil {
			return rounds, err
		}
		rounds = append(rounds, rd)
	}
	return rounds, nil
}
