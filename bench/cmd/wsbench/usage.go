package main

import (
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// usage is a snapshot of CPU time: the whole machine's, the server's and wsbench's own (the
// clients and the publishers).
type usage struct {
	busy, total  time.Duration
	server, self time.Duration
	ok           bool
}

// snapshot reads the CPU time used so far.
func snapshot(srv *harness.Server) usage {
	var u usage
	var err error
	u.busy, u.total, err = harness.MachineCPU()
	u.ok = err == nil
	self, children, err := srv.CPU()
	u.server = self + children
	u.ok = u.ok && err == nil
	u.self = harness.SelfCPU()
	return u
}

// since is what was used from u0 to u.
func (u usage) since(u0 usage) usage {
	return usage{
		busy: u.busy - u0.busy, total: u.total - u0.total,
		server: u.server - u0.server, self: u.self - u0.self, ok: u.ok && u0.ok,
	}
}

// other is the share of the machine's CPU (0 to 1) that went to processes outside the
// measurement: it says how much other work disturbed a run.
func (u usage) other() float64 {
	if !u.ok || u.total <= 0 {
		return 0
	}
	return max(0, float64(u.busy-u.server-u.self)/float64(u.total))
}

// per is the server's and wsbench's CPU time per unit of work (a delivery), in µs.
func (u usage) per(n int64) cpuPer {
	if !u.ok || n <= 0 {
		return cpuPer{}
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n) }
	return cpuPer{server: us(u.server), bench: us(u.self), ok: true}
}

// cpuPer is CPU time per delivery in µs: the server's, and wsbench's (clients, publishers).
type cpuPer struct {
	server, bench float64
	ok            bool
}
