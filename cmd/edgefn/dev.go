package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// defaultDebounce is how long dev waits for the files to be quiet before it rebuilds: an
// editor's save is often several writes, a rename and a chmod.
const defaultDebounce = 50 * time.Millisecond

func newDevCmd() *cobra.Command {
	var debounce time.Duration
	cmd := &cobra.Command{
		Use:   "dev MANIFEST",
		Short: "Rebuild and redeploy a manifest's functions on every save",
		Long: "dev deploys the functions of MANIFEST, then watches the manifest and the source\n" +
			"folders of its `build:` functions. On every save it rebuilds what changed and\n" +
			"redeploys through the admin API, printing one line per deploy with its time. A\n" +
			"build that fails prints the compiler's error and leaves the running version live.\n" +
			"Ctrl-C stops it; the functions stay deployed.",
		Args: exactArgs("MANIFEST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if debounce < 0 {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("--debounce must not be negative")}
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			return devLoop(cmd.Context(), c, cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], debounce)
		},
	}
	cmd.Flags().DurationVar(&debounce, "debounce", defaultDebounce, "quiet time after a change before rebuilding")
	return cmd
}

// devSession is one run of `edgefn dev`: what is watched, and the last binary built from each
// source folder, which a manifest-only change redeploys without building.
type devSession struct {
	c              *client
	stdout, stderr io.Writer
	// manifest is the absolute path of the manifest file, and given the path as given.
	manifest, given string
	watcher         *fsnotify.Watcher
	// watched holds every folder added to watcher.
	watched map[string]bool
	// binDir holds the binaries; builds maps each source folder built so far to its state.
	binDir string
	builds map[string]*devBuild
	// cycles counts the rebuild cycles, so that functions sharing a folder build it once.
	cycles int
}

// devBuild is the state of one source folder.
type devBuild struct {
	// out is where its binary is built; binary is out once a build succeeded, else "".
	out, binary string
	// broken is set while its sources do not build: any later cycle builds them again, even
	// when only the manifest changed.
	broken bool
	// cycle is the last cycle that built it, and err that build's error.
	cycle int
	err   error
}

// devLoop runs dev until ctx ends (SIGINT), which is a clean exit.
func devLoop(ctx context.Context, c *client, stdout, stderr io.Writer, path string, debounce time.Duration) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	// The manifest must be valid to start: dev has nothing to watch otherwise.
	if _, err := parseManifests([]string{path}); err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	binDir, err := os.MkdirTemp("", "edgefn-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	s := &devSession{
		c: c, stdout: stdout, stderr: stderr, manifest: abs, given: path, watcher: w,
		watched: map[string]bool{}, binDir: binDir,
		builds: map[string]*devBuild{},
	}
	// The manifest's folder, not the file: editors that save by renaming replace the file,
	// and a watch on the file would end with the old one.
	if err := s.watch(filepath.Dir(abs), false); err != nil {
		return err
	}
	s.cycle(ctx, nil)
	fmt.Fprintf(stdout, "watching %s and its sources; Ctrl-C stops\n", path)
	return s.run(ctx, debounce)
}

// run gathers file events until none came for debounce, then rebuilds and redeploys.
func (s *devSession) run(ctx context.Context, debounce time.Duration) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	changed := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(s.stdout, "stopped; the functions stay deployed")
			return nil
		case ev, ok := <-s.watcher.Events:
			if !ok {
				return errors.New("watch: the watcher stopped")
			}
			if !s.relevant(ev) {
				continue
			}
			changed[ev.Name] = true
			timer.Reset(debounce)
		case err, ok := <-s.watcher.Errors:
			if !ok {
				return errors.New("watch: the watcher stopped")
			}
			fmt.Fprintf(s.stderr, "edgefn: watch: %v\n", err)
		case <-timer.C:
			s.cycle(ctx, changed)
			changed = map[string]bool{}
		}
	}
}

// relevant tells whether ev may change what is deployed: a change to the manifest, or to a
// file of a watched source folder other than tests, hidden files and editor droppings. A new
// folder is watched too.
func (s *devSession) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	if ev.Name == s.manifest {
		return true
	}
	base := filepath.Base(ev.Name)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") || strings.HasSuffix(base, ".swp") ||
		strings.HasSuffix(base, "_test.go") || base == "4913" {
		return false
	}
	if ev.Has(fsnotify.Create) {
		if info, err := os.Stat(ev.Name); err == nil && info.IsDir() && s.underSources(ev.Name) {
			if err := s.watch(ev.Name, true); err != nil {
				fmt.Fprintf(s.stderr, "edgefn: watch %s: %v\n", ev.Name, err)
			}
			return true
		}
	}
	return s.underSources(ev.Name)
}

// underSources tells whether path is in the source folder of a function built so far.
func (s *devSession) underSources(path string) bool {
	for dir := range s.builds {
		if within(dir, path) {
			return true
		}
	}
	return false
}

// within tells whether path is dir or inside it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// watch adds dir, and with recursive every folder under it but hidden ones, to the watcher.
func (s *devSession) watch(dir string, recursive bool) error {
	add := func(d string) error {
		if s.watched[d] {
			return nil
		}
		if err := s.watcher.Add(d); err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
		}
		s.watched[d] = true
		return nil
	}
	if !recursive {
		return add(dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return add(p)
	})
}

// cycle reads the manifest again and redeploys each of its functions: rebuilt when a file of
// its sources is in changed (or it was never built), else with its last binary. changed nil
// means everything. Problems are printed, never returned: dev keeps watching.
func (s *devSession) cycle(ctx context.Context, changed map[string]bool) {
	files, err := parseManifests([]string{s.given})
	if err != nil {
		printError(s.stderr, fmt.Errorf("%s is invalid; nothing redeployed:\n%w", s.given, err))
		return
	}
	f := files[0]
	s.cycles++
	for _, fn := range f.set.Functions {
		if ctx.Err() != nil {
			return
		}
		s.redeploy(ctx, f, fn, changed)
	}
}

// redeploy builds fn if its sources changed and uploads it, printing one line that says how
// long each step took.
func (s *devSession) redeploy(ctx context.Context, f manifestFile, fn *manifest.Function, changed map[string]bool) {
	start := time.Now()
	stamp := start.Format("15:04:05")
	binary, built := fn.Handler, false
	var buildTook time.Duration
	if fn.Build != "" {
		var err error
		binary, built, err = s.build(ctx, fn, changed)
		buildTook = time.Since(start)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			live := "the running version stays live"
			fmt.Fprintf(s.stderr, "%s %s: build failed after %s; %s:\n%s\n", stamp, fn.Name, round(buildTook), live, indent(err.Error()))
			return
		}
	}
	upStart := time.Now()
	res, err := upload(ctx, s.c, fn.Name, f, binary)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(s.stderr, "%s %s: deploy failed after %s: %v\n", stamp, fn.Name, round(time.Since(start)), err)
		return
	}
	what := fmt.Sprintf("deployed version %d", res.Version)
	if res.Unchanged {
		what = fmt.Sprintf("unchanged at version %d", res.Version)
	}
	steps := fmt.Sprintf("deploy %s", round(time.Since(upStart)))
	if built {
		steps = fmt.Sprintf("build %s, %s", round(buildTook), steps)
	}
	fmt.Fprintf(s.stdout, "%s %s: %s in %s (%s)\n", stamp, fn.Name, what, round(time.Since(start)), steps)
}

// build returns the binary of fn: the last good build of its folder when none of its sources
// is in changed and the last build succeeded, else a new one. A failed build keeps the last
// good binary for later. The folder is watched from the first build on.
func (s *devSession) build(ctx context.Context, fn *manifest.Function, changed map[string]bool) (binary string, built bool, err error) {
	b := s.builds[fn.Build]
	if b == nil {
		b = &devBuild{out: filepath.Join(s.binDir, fmt.Sprintf("%s-%d", filepath.Base(fn.Build), len(s.builds)+1))}
		s.builds[fn.Build] = b
		if err := s.watch(fn.Build, true); err != nil {
			return "", false, err
		}
	}
	if b.cycle == s.cycles { // another function of the manifest built it in this cycle
		return b.binary, false, b.err
	}
	stale := b.binary == "" || b.broken || changed == nil
	for p := range changed {
		if p != s.manifest && within(fn.Build, p) {
			stale = true
		}
	}
	if !stale {
		return b.binary, false, nil
	}
	b.cycle = s.cycles
	// go build writes nothing when it fails; building next to the last binary and renaming
	// keeps the last one whole until the new one is complete.
	b.err = runtime.Build(ctx, fn.Build, b.out+".new")
	if b.err == nil {
		b.err = os.Rename(b.out+".new", b.out)
	}
	b.broken = b.err != nil
	if b.err != nil {
		return "", false, b.err
	}
	b.binary = b.out
	return b.binary, true, nil
}

// round rounds d for a line of output: milliseconds.
func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// indent prefixes every line of s with two spaces.
func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
