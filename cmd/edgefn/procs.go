package main

import (
	"log/slog"
	"runtime"
	"sync"
)

// gatewayProcs is the gateway's share of n processors while it runs plugins: what the plugins
// leave, since each plugin takes half of them by default (see fn.Serve). On two processors the
// gateway and a plugin get one each.
func gatewayProcs(n int) int { return max(1, n-n/2) }

// processors sets the gateway's GOMAXPROCS: Go's default (every processor, or the container's
// quota) while no function is deployed, gatewayProcs of it while plugins run. GOMAXPROCS in
// the environment decides instead, always.
//
// Why split: the gateway hands each call to a plugin and resumes the caller's goroutine when the
// answer comes back, and with a processor per core it resumes most calls on another core than
// the one that started them; the goroutine's stack, the request's buffers and the connection's
// state then follow it from cache to cache, and the gateway's processors contend for the call
// table and the data path besides. On the 2-vCPU machine of bench/README.md the gateway's CPU
// per hello request fell by a third on one processor, the plugin's by a quarter (its batches
// grow), and throughput rose by 3 to 24 % in six alternating rounds. A gateway that runs no
// plugin keeps every processor: its own work (WebSocket fan-out, relaying) scales with them,
// and the fan-out took 40 % longer on one processor.
type processors struct {
	fixed  bool // GOMAXPROCS is set in the environment
	logger *slog.Logger

	mu      sync.Mutex
	plugins bool // the current setting is for plugins
}

// newProcessors returns the gateway's processor setting, at Go's default until plugins run.
// lookup reads the environment.
func newProcessors(lookup func(string) (string, bool), logger *slog.Logger) *processors {
	_, fixed := lookup("GOMAXPROCS")
	return &processors{fixed: fixed, logger: logger}
}

// update applies the share for whether plugins run (functions are deployed), and logs a
// change.
func (p *processors) update(plugins bool) {
	if p.set(plugins) {
		p.logger.Info("gateway processors", "gomaxprocs", runtime.GOMAXPROCS(0), "plugins", plugins)
	}
}

// restore puts Go's default back, when the server stops.
func (p *processors) restore() { p.set(false) }

// set applies the share for whether plugins run, and tells whether that changed it.
func (p *processors) set(plugins bool) bool {
	if p.fixed {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if plugins == p.plugins {
		return false
	}
	p.plugins = plugins
	runtime.SetDefaultGOMAXPROCS() // back to the default, which follows the container's quota
	if plugins {
		runtime.GOMAXPROCS(gatewayProcs(runtime.GOMAXPROCS(0)))
	}
	return true
}
