package main

import (
	"context"
	"fmt"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// machine describes where the numbers were taken, with its memory and the tree built.
type machine struct {
	harness.Machine
	memTotal, tree string
}

func describeMachine(ctx context.Context) machine {
	m := machine{Machine: harness.DescribeMachine(ctx)}
	if kb, err := procStatusKB("/proc/meminfo", "MemTotal:"); err == nil {
		m.memTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	m.tree = harness.Tree(ctx, ".", true)
	return m
}
