package main

import (
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// usage is a snapshot of CPU time: the machine's, the server's and its plugins', and
// edgebench's own (the open-loop sender) with its children's (wrk, the CLI).
type usage struct {
	busy, total      time.Duration
	server, children time.Duration
	self             time.Duration
	ok               bool
}

func snapshot(srv *harness.Server) usage {
	var u usage
	var err1, err2 error
	u.busy, u.total, err1 = harness.MachineCPU()
	u.server, u.children, err2 = srv.CPU()
	u.self = harness.SelfCPU()
	u.ok = err1 == nil && err2 == nil
	return u
}

// since is what was used from u0 to u.
func (u usage) since(u0 usage) usage {
	return usage{
		busy: u.busy - u0.busy, total: u.total - u0.total,
		server: u.server - u0.server, children: u.children - u0.children,
		self: u.self - u0.self, ok: u.ok && u0.ok,
	}
}

// foreign is the share of the machine's CPU (0 to 1) that went to other processes: neither
// the server, its plugins, edgebench nor its tools. It says how much other work disturbed a
// measurement.
func (u usage) foreign() float64 {
	if !u.ok || u.total <= 0 {
		return 0
	}
	other := u.busy - u.server - u.children - u.self
	return max(0, float64(other)/float64(u.total))
}
