package harness

import (
	"context"
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

// Main runs run with a context that SIGINT and SIGTERM cancel. A command whose flags are
// invalid passes why as invalid, and exits 2 without running; a run that fails exits 1. Both
// errors are printed after the command's name.
func (c Command) Main(invalid error, run func(context.Context) error) {
	if invalid != nil {
		fmt.Fprintln(os.Stderr, c.Name+":", invalid)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, c.Name+":", err)
		os.Exit(1)
	}
}

// TempDir makes the run's temporary folder and returns it with the function that removes it
// at the end. With keep set, that function keeps it, and TempDir says where it is on progress.
func (c Command) TempDir(keep bool, progress io.Writer) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", c.Name+"-")
	if err != nil {
		return "", nil, err
	}
	if keep {
		fmt.Fprintln(progress, "keeping", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// Build returns the paths of c.Programs, in order: those in the folder prebuilt when it is set
// (-prebuilt), checking that each is there; otherwise it says "building WHAT" on progress and
// builds them into dir from the repository the working directory is in.
func (c Command) Build(ctx context.Context, prebuilt, dir string, progress io.Writer, what string) ([]string, error) {
	if prebuilt != "" {
		return FindPrograms(prebuilt, c.Programs...)
	}
	repo, err := RepoRoot(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(progress, "building", what)
	return BuildPrograms(ctx, repo, dir, c.Programs...)
}

// Publish prints the report text on stdout, then writes it into the README at path (see
// WriteSection).
func (c Command) Publish(stdout, progress io.Writer, path, text string) error {
	fmt.Fprint(stdout, text)
	return c.WriteSection(path, text, progress)
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
