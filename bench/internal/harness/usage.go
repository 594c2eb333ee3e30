package harness

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Usage is a snapshot of CPU time, to split what a measurement used among those who used it:
// the machine's, busy and in all; the server's and its child processes' (edgefn's plugins); that
// of further processes the measurement counts (a broker's); and this process's own, with its
// child processes that ended (wrk, the CLI).
type Usage struct {
	Busy, Total      time.Duration
	Server, Children time.Duration
	Procs            time.Duration
	Self             time.Duration
	// OK is false when a part could not be read; Other is then 0.
	OK bool
}

// Snapshot reads the CPU time used so far. srv is nil when no server runs (a baseline inside
// this process), and pids lists the further processes to count.
func Snapshot(srv *Server, pids ...int) Usage {
	var u Usage
	var err error
	u.Busy, u.Total, err = MachineCPU()
	u.OK = err == nil
	if srv != nil {
		u.Server, u.Children, err = srv.CPU()
		u.OK = u.OK && err == nil
	}
	for _, pid := range pids {
		cpu, err := processCPU(pid)
		u.Procs += cpu
		u.OK = u.OK && err == nil
	}
	u.Self = SelfCPU()
	return u
}

// Since is what was used from u0 to u.
func (u Usage) Since(u0 Usage) Usage {
	return Usage{
		Busy: u.Busy - u0.Busy, Total: u.Total - u0.Total,
		Server: u.Server - u0.Server, Children: u.Children - u0.Children,
		Procs: u.Procs - u0.Procs, Self: u.Self - u0.Self, OK: u.OK && u0.OK,
	}
}

// Other is the share of the machine's CPU (0 to 1) that went to processes outside the
// measurement: neither the server, its children, the processes counted nor this one. It says
// how much other work disturbed a measurement.
func (u Usage) Other() float64 {
	if !u.OK || u.Total <= 0 {
		return 0
	}
	return max(0, float64(u.Busy-u.Server-u.Children-u.Procs-u.Self)/float64(u.Total))
}

// PidsNamed returns the processes whose command name (/proc/PID/comm) is one of names.
func PidsNamed(names ...string) []int {
	var pids []int
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		if slices.Contains(names, strings.TrimSpace(string(b))) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
			pids = append(pids, pid)
		}
	}
	return pids
}
