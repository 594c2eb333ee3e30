//go:build linux

package runtime

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/runtime/sandbox"
)

// BenchmarkColdStart measures a plugin process's start, from its binary's verification to
// its data path being ready (what edgefn_cold_start_duration_seconds records); its stop is
// not timed:
// "sandbox=off" as a plain child of the gateway, "sandbox=on" through the launcher, in its
// namespaces and cgroups, as its own uid when the gateway is root (docs/security.md). The
// difference is what the sandbox costs a cold start.
func BenchmarkColdStart(b *testing.B) {
	bin := buildTestfn(b)
	sb, err := sandbox.New(sandbox.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	isolation, _ := sb.Describe()
	b.Logf("sandbox: %s", isolation)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := manifest.DefaultLimits
	for _, on := range []bool{false, true} {
		name := "sandbox=off"
		spec := instanceSpec{Function: "testfn", Version: 1, Binary: bin, Sum: sumOf(b, bin), Binaries: newBinaries(),
			StartTimeout: time.Minute, Logs: NewLogs("testfn", logger), Logger: logger}
		if on {
			name = "sandbox=on"
			spec.Sandbox, spec.UID = sb, sandbox.FirstUID
			spec.Limits = sandbox.Limits{Memory: l.Memory, Processes: l.Processes, Files: l.Files}
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				inst, err := startInstance(context.Background(), spec)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				inst.stop()
				b.StartTimer()
			}
		})
	}
}
