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
	cpus                     int
	model, kernel, goVersion string
	redisVersion, rabbitMQ   string
	loadBefore, loadAfter    string
}

func describeMachine(ctx context.Context, b *bench) machine {
	m := machine{cpus: runtime.NumCPU(), model: harness.CPUModel(), loadBefore: harness.LoadAvg(), redisVersion: "—", rabbitMQ: "—"}
	if out, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(out))
	}
	if b.redis != nil {
		m.redisVersion = b.redis.version(ctx)
	}
	if b.rabbit != nil {
		m.rabbitMQ = b.rabbit.version()
	}
	return m
}
