package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where the numbers were taken, for the first line of a report.
type Machine struct {
	// CPUs is the number of logical CPUs, and Model the first one's model name.
	CPUs  int
	Model string
	// Kernel is the Linux kernel's release, and GoVersion the toolchain's (go1.26.0).
	Kernel, GoVersion string
	// Memory is the machine's memory, such as "7.8 GiB"; "" when unknown.
	Memory string
	// LoadBefore is the load average as the run started; the caller sets LoadAfter (LoadAvg)
	// as it ends.
	LoadBefore, LoadAfter string
}

// DescribeMachine describes this machine as a run starts.
func DescribeMachine(ctx context.Context) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Model: CPUModel(), LoadBefore: LoadAvg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if kb, err := ProcStatusKB("/proc/meminfo", "MemTotal:"); err == nil {
		m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	return m
}

// Tree names the checkout in dir that the binaries are built from: "commit abc1234", followed
// by " with uncommitted changes" when git status lists a change (an untracked file counts), or
// "a tree outside git".
func Tree(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "a tree outside git"
	}
	tree := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		tree += " with uncommitted changes"
	}
	return tree
}

// CPUModel is the first "model name" of /proc/cpuinfo.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// LoadAvg is the 1, 5 and 15 minute load average, which shows whether something else ran.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ProcStatusKB reads a "Key:   123 kB" line of a /proc file such as /proc/meminfo or
// /proc/PID/status.
func ProcStatusKB(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}
