package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// usage is a snapshot of CPU time: the whole machine's, the gateway's and its plugins', the
// broker's and triggerbench's own (the baseline consumer, the producers, the polling).
type usage struct {
	busy, total      time.Duration
	gateway, plugins time.Duration
	broker           time.Duration
	self             time.Duration
	ok               bool
}

// snapshot reads the CPU time used so far; g is nil for a baseline run, and broker lists the
// broker's processes (none for the embedded backends).
func snapshot(g *gateway, broker []int) usage {
	var u usage
	var err error
	u.busy, u.total, err = harness.MachineCPU()
	u.ok = err == nil
	if g != nil {
		u.gateway, u.plugins, err = g.srv.CPU()
		u.ok = u.ok && err == nil
	}
	for _, pid := range broker {
		cpu, err := procCPU(pid)
		u.broker += cpu
		u.ok = u.ok && err == nil
	}
	u.self = harness.SelfCPU()
	return u
}

// since is what was used from u0 to u.
func (u usage) since(u0 usage) usage {
	return usage{
		busy: u.busy - u0.busy, total: u.total - u0.total,
		gateway: u.gateway - u0.gateway, plugins: u.plugins - u0.plugins,
		broker: u.broker - u0.broker, self: u.self - u0.self, ok: u.ok && u0.ok,
	}
}

// other is the share of the machine's CPU (0 to 1) that went to processes outside the
// measurement: it says how much other work disturbed a run.
func (u usage) other() float64 {
	if !u.ok || u.total <= 0 {
		return 0
	}
	return max(0, float64(u.busy-u.gateway-u.plugins-u.broker-u.self)/float64(u.total))
}

// perMessage splits the CPU time of a run per message, in µs.
func (u usage) perMessage(msgs int) cpuPerMessage {
	if !u.ok || msgs <= 0 {
		return cpuPerMessage{}
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(msgs) }
	return cpuPerMessage{gateway: us(u.gateway), plugin: us(u.plugins), broker: us(u.broker), bench: us(u.self), ok: true}
}

// cpuPerMessage is the CPU time of a run per message, in µs: the gateway, its plugins, the
// broker and triggerbench (the baseline consumer itself, or the producers and the polling).
// When the machine is saturated, messages per second are about cores ÷ their sum.
type cpuPerMessage struct {
	gateway, plugin, broker, bench float64
	ok                             bool
}

func (c cpuPerMessage) total() float64 { return c.gateway + c.plugin + c.broker + c.bench }

// pidsNamed returns the processes whose command name (/proc/PID/comm) is one of names.
func pidsNamed(names ...string) []int {
	var pids []int
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, n := range names {
			if comm == n {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// procCPU reads the user and system CPU time of process pid from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from its end.
	f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
	// After the name: state(0) ppid(1) ... utime(11) stime(12).
	if len(f) < 13 {
		return 0, os.ErrInvalid
	}
	utime, _ := strconv.ParseInt(string(f[11]), 10, 64)
	stime, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return time.Duration(utime+stime) * clockTick, nil
}
