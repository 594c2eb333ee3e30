//go:build linux

package harness

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// CPU returns the CPU time (user and system) the server process has used so far, and that
// of its child processes (edgefn's plugins), living or ended, from /proc.
func (s *Server) CPU() (self, children time.Duration, err error) {
	pid := s.Pid()
	self, children, _, err = procCPU(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		cpu, ended, ppid, err := procCPU(st)
		if err == nil && ppid == pid {
			children += cpu + ended
		}
	}
	return self, children, nil
}

// processCPU returns the CPU time (user and system) process pid has used so far.
func processCPU(pid int) (time.Duration, error) {
	cpu, _, _, err := procCPU(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return cpu, err
}

// procCPU reads a /proc/PID/stat file: the process's utime+stime, the cutime+cstime of its
// children that ended and were waited for, and its parent's PID.
func procCPU(path string) (cpu, ended time.Duration, ppid int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from its end.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("%s: no command name", path)
	}
	f := bytes.Fields(b[i+1:])
	// After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("%s: too few fields", path)
	}
	ppid, _ = strconv.Atoi(string(f[1]))
	ticks := func(i int) time.Duration {
		n, _ := strconv.ParseInt(string(f[i]), 10, 64)
		return time.Duration(n) * clockTick
	}
	return ticks(11) + ticks(12), ticks(13) + ticks(14), ppid, nil
}

// MachineCPU returns the CPU time the whole machine has spent busy (anything but idle and
// iowait, steal included) and in all, summed over its CPUs, from /proc/stat.
func MachineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice, already in user]
	for i, s := range f[1:9] {
		n, _ := strconv.ParseInt(string(s), 10, 64)
		d := time.Duration(n) * clockTick
		total += d
		if i != 3 && i != 4 {
			busy += d
		}
	}
	return busy, total, nil
}

// SelfCPU returns the CPU time this process has used so far, with that of its child processes
// that ended (wrk, the CLI).
func SelfCPU() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
