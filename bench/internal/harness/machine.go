package harness

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Machine describes where the numbers were taken, for the first line of a report.
type Machine struct {
	// CPUs is the number of logical CPUs, and Model the first one's model name.
	CPUs  int
	Model string
	// Kernel is the Linux kernel's release, and GoVersion the toolchain's (go1.26.0).
	Kernel, GoVersion string
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
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	return m
}

// Tree names the checkout in dir that the binaries are built from: "commit abc1234", followed
// by " with uncommitted changes" when git status lists a change (an untracked file counts
// when untracked is set), or "a tree outside git".
func Tree(ctx context.Context, dir string, untracked bool) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "a tree outside git"
	}
	tree := "commit " + strings.TrimSpace(string(out))
	status := []string{"-C", dir, "status", "--porcelain"}
	if !untracked {
		status = append(status, "--untracked-files=no")
	}
	if st, err := exec.CommandContext(ctx, "git", status...).Output(); err == nil && len(st) > 0 {
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
