package main

import (
	"context"
	"fmt"
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
	goVersion, tree       string
	memTotal              string
	loadBefore, loadAfter string
}

func describeMachine(ctx context.Context) machine {
	m := machine{cpus: runtime.NumCPU(), model: harness.CPUModel(), loadBefore: harness.LoadAvg(), tree: "a tree outside git"}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(out))
	}
	if kb, err := procStatusKB("/proc/meminfo", "MemTotal:"); err == nil {
		m.memTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.tree = "commit " + strings.TrimSpace(string(out))
		st, err := exec.CommandContext(ctx, "git", "status", "--porcelain").Output()
		if err == nil && len(st) > 0 {
			m.tree += " with uncommitted changes"
		}
	}
	return m
}
