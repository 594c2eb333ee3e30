// Package harness runs edgefn and its baseline the way a user does, for the benchmarks of
// bench/: it builds the binaries from the repository, starts each server as its own process on
// a loopback port, drives load at it (wrk for throughput, an open-loop sender for latency) and
// times cold starts through the admin API and the CLI. Measurements leave as plain values
// (requests per second, sorted latencies, durations); summarising them is the caller's job.
package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the programs the benchmarks run, built from one checkout.
type Binaries struct {
	// Edgefn is the gateway binary (./cmd/edgefn), also used as the CLI.
	Edgefn string
	// Hello is the plugin of ./functions/hello.
	Hello string
	// RawFiber is the baseline server of ./bench/rawfiber.
	RawFiber string
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

// Prebuilt returns the binaries already built in dir (edgefn, hello, rawfiber), checking that
// each exists.
func Prebuilt(dir string) (Binaries, error) {
	b := Binaries{
		Edgefn:   filepath.Join(dir, "edgefn"),
		Hello:    filepath.Join(dir, "hello"),
		RawFiber: filepath.Join(dir, "rawfiber"),
	}
	for _, p := range []string{b.Edgefn, b.Hello, b.RawFiber} {
		if _, err := os.Stat(p); err != nil {
			return Binaries{}, fmt.Errorf("prebuilt binaries: %w", err)
		}
	}
	return b, nil
}

// Build builds the gateway, the hello plugin and the baseline from repo into dir, as users
// build them (no race detector, default flags).
func Build(ctx context.Context, repo, dir string) (Binaries, error) {
	b := Binaries{
		Edgefn:   filepath.Join(dir, "edgefn"),
		Hello:    filepath.Join(dir, "hello"),
		RawFiber: filepath.Join(dir, "rawfiber"),
	}
	builds := []struct{ out, pkg string }{
		{b.Edgefn, "./cmd/edgefn"},
		{b.Hello, "./functions/hello"},
		{b.RawFiber, "./bench/rawfiber"},
	}
	for _, x := range builds {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", x.out, x.pkg)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", x.pkg, err, out)
		}
	}
	return b, nil
}
