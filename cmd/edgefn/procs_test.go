package main

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
)

func TestGatewayProcsLeavesThePluginsHalf(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 1, 3: 2, 4: 2, 8: 4, 9: 5, 64: 32} {
		if got := gatewayProcs(n); got != want {
			t.Errorf("gatewayProcs(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestProcessorsFollowWhetherPluginsRun(t *testing.T) {
	runtime.SetDefaultGOMAXPROCS()
	t.Cleanup(runtime.SetDefaultGOMAXPROCS)
	all := runtime.GOMAXPROCS(0)
	noEnv := func(string) (string, bool) { return "", false }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	p := newProcessors(noEnv, logger)
	p.update(true)
	if got := runtime.GOMAXPROCS(0); got != gatewayProcs(all) {
		t.Fatalf("with plugins: GOMAXPROCS = %d, want %d of %d", got, gatewayProcs(all), all)
	}
	p.update(true) // no change, no second setting
	if got := runtime.GOMAXPROCS(0); got != gatewayProcs(all) {
		t.Fatalf("with plugins, again: GOMAXPROCS = %d, want %d", got, gatewayProcs(all))
	}
	p.update(false)
	if got := runtime.GOMAXPROCS(0); got != all {
		t.Fatalf("without plugins: GOMAXPROCS = %d, want the default %d", got, all)
	}
}

func TestProcessorsLeaveAnExplicitGOMAXPROCS(t *testing.T) {
	runtime.SetDefaultGOMAXPROCS()
	t.Cleanup(runtime.SetDefaultGOMAXPROCS)
	before := runtime.GOMAXPROCS(0)
	set := func(k string) (string, bool) { return "7", k == "GOMAXPROCS" }
	p := newProcessors(set, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.update(true)
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS set in the environment: the gateway changed it from %d to %d", before, got)
	}
}
