//go:build unix

package testkit

import (
	"syscall"
	"testing"
	"time"
)

// ReportCPU starts counting the CPU time this process uses, user and system; the function it
// returns reports that time per operation of b as the metric unit (such as "cpu-ns/op"). A
// benchmark that runs a server and its clients in one process counts both; on a machine shared
// with other work this varies less than the time an operation takes.
func ReportCPU(b *testing.B, unit string) func() {
	b.Helper()
	start := processCPU(b)
	return func() { b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), unit) }
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
