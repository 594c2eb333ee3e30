// Package harness runs edgefn and its baseline the way a user does, for the benchmarks of
// bench/: it builds the binaries from the repository, starts each server as its own process on
// a loopback port, drives load at it (wrk for throughput, an open-loop sender for latency) and
// times cold starts through the admin API and the CLI. Measurements leave as plain values
// (requests per second, sorted latencies, durations); summarising them is the caller's job.
// It also holds what the benchmark commands share around their measurements: their common
// flags, the wait for a quiet machine and the retry of disturbed runs, the machine's
// description and the report's cells.
package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/edgefn/edgefn/runtime"
)

// Program is one binary a benchmark runs, built from the repository.
type Program struct {
	// Name is the binary's file name in the folder it is built into, such as "edgefn".
	Name string
	// Package is the Go package it is built from, relative to the repository root, such as
	// "./cmd/edgefn".
	Package string
	// Plugin builds it as edgefn builds a function (runtime.Build: runtime.BuildFlags and
	// CGO_ENABLED=0), not with a bare `go build`.
	Plugin bool
}

// Binaries are the programs the benchmarks run, built from one checkout.
type Binaries struct {
	// Edgefn is the gateway binary (./cmd/edgefn), also used as the CLI.
	Edgefn string
	// Hello is the plugin of ./functions/hello, built as edgefn builds functions.
	Hello string
	// RawFiber is the baseline server of ./bench/rawfiber.
	RawFiber string
	// HelloGoBuild is the same plugin from a bare `go build`, larger (symbols, DWARF).
	HelloGoBuild string
}

// The programs every benchmark builds, or most do.
var (
	// Edgefn is the gateway, also used as the CLI.
	Edgefn = Program{Name: "edgefn", Package: "./cmd/edgefn"}
	// Hello is the plugin of functions/hello, built as edgefn builds a function: what a
	// `build:` manifest, `make functions` and the Dockerfile deploy.
	Hello = Program{Name: "hello", Package: "./functions/hello", Plugin: true}
)

// HelloPrograms are the programs of Binaries, in the order of its fields.
var HelloPrograms = []Program{Edgefn, Hello, {Name: "rawfiber", Package: "./bench/rawfiber"},
	{Name: "hello-gobuild", Package: "./functions/hello"}}

// HelloBinaries names the paths of HelloPrograms, in order.
func HelloBinaries(paths []string) Binaries {
	return Binaries{Edgefn: paths[0], Hello: paths[1], RawFiber: paths[2], HelloGoBuild: paths[3]}
}

// RepoRoot returns the folder of the edgefn module that the working directory is in.
func RepoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == "/dev/null" {
		return "", errors.New("not inside the edgefn module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

// Build builds the gateway, the hello plugin (both ways) and the baseline from repo into dir,
// as users build them (see BuildPrograms).
func Build(ctx context.Context, repo, dir string) (Binaries, error) {
	paths, err := BuildPrograms(ctx, repo, dir, HelloPrograms...)
	if err != nil {
		return Binaries{}, err
	}
	return HelloBinaries(paths), nil
}

// FindPrograms returns the paths of progs already built in dir, in order, checking that each
// exists.
func FindPrograms(dir string, progs ...Program) ([]string, error) {
	paths := programPaths(dir, progs)
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("prebuilt binaries: %w", err)
		}
	}
	return paths, nil
}

// BuildPrograms builds progs from repo into dir, as users build them (no race detector; a
// bare `go build`, or for a Plugin as edgefn builds functions), and returns their paths, in
// order.
func BuildPrograms(ctx context.Context, repo, dir string, progs ...Program) ([]string, error) {
	paths := programPaths(dir, progs)
	for i, p := range progs {
		if p.Plugin {
			out, err := filepath.Abs(paths[i]) // runtime.Build runs in the package's folder
			if err == nil {
				err = runtime.Build(ctx, filepath.Join(repo, p.Package), out)
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", paths[i], p.Package)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", p.Package, err, out)
		}
	}
	return paths, nil
}

func programPaths(dir string, progs []Program) []string {
	paths := make([]string, len(progs))
	for i, p := range progs {
		paths[i] = filepath.Join(dir, p.Name)
	}
	return paths
}
