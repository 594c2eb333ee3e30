package main

import (
	"context"
	"os/exec"
	"strings"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// machine describes where the numbers were taken, wrk included.
type machine struct {
	harness.Machine
	wrkVersion string
}

func describeMachine(ctx context.Context, wrk string) machine {
	m := machine{Machine: harness.DescribeMachine(ctx)}
	// wrk -v prints its version and usage, and exits 1.
	out, _ := exec.CommandContext(ctx, wrk, "-v").CombinedOutput()
	if line, _, _ := strings.Cut(string(out), "\n"); strings.HasPrefix(line, "wrk ") {
		m.wrkVersion, _, _ = strings.Cut(line, " [")
	}
	return m
}
