package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// machine describes where the numbers were taken.
type machine struct {
	cpus                  int
	model, kernel         string
	goVersion, wrkVersion string
	loadBefore, loadAfter string
}

func describeMachine(ctx context.Context, wrk string) machine {
	m := machine{cpus: runtime.NumCPU(), model: harness.CPUModel(), loadBefore: harness.LoadAvg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(out))
	}
	// wrk -v prints its version and usage, and exits 1.
	out, _ := exec.CommandContext(ctx, wrk, "-v").CombinedOutput()
	if line, _, _ := strings.Cut(string(out), "\n"); strings.HasPrefix(line, "wrk ") {
		m.wrkVersion, _, _ = strings.Cut(line, " [")
	}
	return m
}

// describeTree names what was built: the commit, and whether tracked files differed from it.
func describeTree(ctx context.Context, repo string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "a tree outside git"
	}
	tree := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		tree += " with uncommitted changes"
	}
	return tree
}
