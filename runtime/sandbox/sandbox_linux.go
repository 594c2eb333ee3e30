//go:build linux && (amd64 || arm64)

package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/edgefn/edgefn/runtime/sandbox/launch"
)

// Config is what New needs.
type Config struct {
	// Off starts plugins as plain children of the gateway, unconfined and unlimited.
	Off bool
	// DataDir is hidden from every plugin.
	DataDir string
}

// Sandbox starts plugin processes; its zero value and nil start them unconfined.
type Sandbox struct {
	on      bool
	root    bool // a uid per function; else a user namespace, when mounts
	mounts  bool // PID and mount namespaces, private /proc
	refused string
	exe     string
	hide    []string
	runRoot string
	cg      *cgroups
}

// New checks what the kernel allows by starting the launcher (once, or twice when it refuses
// the namespaces), and prepares the folder of the plugins' working folders. What the kernel
// refuses is given up, not an error: Describe says what remains.
func New(cfg Config) (*Sandbox, error) {
	if cfg.Off {
		return &Sandbox{}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	// The working folders must be reachable by every function's uid when no mount namespace
	// binds them in: 0711 lists nothing.
	runRoot, err := os.MkdirTemp("", "edgefn-run-")
	if err == nil {
		err = os.Chmod(runRoot, 0o711)
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Sandbox{on: true, root: os.Geteuid() == 0, mounts: true, exe: exe, runRoot: runRoot,
		hide: []string{data, os.TempDir()}}
	var refusals []string
	if err := s.probe(); err != nil {
		s.mounts = false
		refusals = append(refusals, "namespaces: "+err.Error())
		if s.root {
			if err := s.probe(); err != nil {
				s.root = false
				refusals = append(refusals, "a uid of its own: "+err.Error())
			}
		}
	}
	if s.root {
		cg, err := openCgroups()
		if err != nil {
			refusals = append(refusals, "cgroups: "+err.Error())
		}
		s.cg = cg
	}
	s.refused = strings.Join(refusals, "; ")
	return s, nil
}

// On reports whether plugins are confined at all.
func (s *Sandbox) On() bool { return s != nil && s.on && (s.root || s.mounts) }

// Describe says, in one line for the log, how plugins are confined and what the kernel refused.
func (s *Sandbox) Describe() (isolation, refused string) {
	return s.isolation(), s.refused
}

func (s *Sandbox) isolation() string {
	switch {
	case s == nil || !s.on:
		return "off"
	case !s.On():
		return "none: the gateway's user, no namespaces"
	}
	var parts []string
	if s.root {
		parts = append(parts, "a uid of its own")
	} else {
		parts = append(parts, "user namespace")
	}
	if s.mounts {
		parts = append(parts, "pid and mount namespaces", "private /proc", "data dir and temporary folder hidden")
	}
	return strings.Join(append(parts, "no_new_privs", "no capabilities"), ", ")
}

// Close removes the working folders' folder.
func (s *Sandbox) Close() {
	if s != nil && s.runRoot != "" {
		os.RemoveAll(s.runRoot)
	}
}

// probe starts the launcher with every step but the exec.
func (s *Sandbox) probe() error {
	dir, err := os.MkdirTemp(s.runRoot, "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	uid := 0
	if s.root {
		uid = FirstUID
		if err := os.Chown(dir, uid, uid); err != nil {
			return err
		}
	}
	cmd := s.command(uid, dir, []string{launch.KeyProbe})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return errors.New(strings.TrimPrefix(msg, "edgefn sandbox: "))
		}
		return err
	}
	return nil
}

// command is the launcher's command line for a process of uid in dir.
func (s *Sandbox) command(uid int, dir string, extra []string) *exec.Cmd {
	args := []string{launch.Arg0, launch.KeyDir + "=" + dir}
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if s.root {
		args = append(args, launch.KeyUID+"="+strconv.Itoa(uid))
	}
	if s.mounts {
		args = append(args, launch.KeyMounts)
		for _, h := range s.hide {
			args = append(args, launch.KeyHide+"="+h)
		}
		attr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
		if !s.root {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
			args = append(args, launch.KeyDrop)
		}
	}
	cmd := &exec.Cmd{Path: s.exe, Args: append(args, extra...), SysProcAttr: attr}
	return cmd
}

// Run is one started process's share of the sandbox: its working folder and cgroups.
type Run struct {
	dir       string
	cg        []string
	memory    string // the cgroup file whose oom_kill line counts memory kills
	isolation string
	// placedR is the launcher's end of the pipe Place writes to once the process is in its
	// cgroups, placedW the gateway's; nil without cgroups.
	placedR, placedW *os.File
}

// Command returns the command that starts the binary open as bin as p, and what to clean up
// once it has exited. The caller sets its environment, keeps bin open until it started, and
// calls Place with its pid as soon as it has: the process does not exec its binary before.
func (s *Sandbox) Command(p Process, bin *os.File) (*exec.Cmd, *Run, error) {
	dir, err := os.MkdirTemp(s.runRoot, p.Function+"-")
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: %w", err)
	}
	run := &Run{dir: dir}
	if s.root {
		// The function's uid owns its working folder; its binary is executable by its group
		// and writable by no function.
		err := os.Chown(dir, p.UID, p.UID)
		if err == nil {
			err = bin.Chown(0, p.UID)
		}
		if err == nil {
			err = bin.Chmod(0o750)
		}
		if err != nil {
			run.Close()
			return nil, nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	var cgLimits, rl []string
	var limitArgs []string
	l := p.Limits
	if s.cg != nil {
		if run.cg, run.memory, cgLimits, err = s.cg.create(filepath.Base(dir), l); err != nil {
			run.Close()
			return nil, nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	if l.Memory > 0 && run.memory == "" {
		// Go reserves its address space up front: RLIMIT_AS would stop it starting, RLIMIT_DATA
		// counts what it actually maps writable.
		limitArgs = append(limitArgs, launch.KeyLimit+"=data:"+strconv.FormatInt(l.Memory, 10))
		rl = append(rl, "memory "+mib(l.Memory))
	}
	if l.Processes > 0 && s.root && !slices.ContainsFunc(cgLimits, func(c string) bool { return strings.HasPrefix(c, "pids") }) {
		// RLIMIT_NPROC counts the uid's threads: a uid of the function's own is the function.
		limitArgs = append(limitArgs, launch.KeyLimit+"=nproc:"+strconv.Itoa(l.Processes))
		rl = append(rl, "processes "+strconv.Itoa(l.Processes))
	}
	if l.Files > 0 {
		limitArgs = append(limitArgs, launch.KeyLimit+"=nofile:"+strconv.Itoa(l.Files))
		rl = append(rl, "files "+strconv.Itoa(l.Files))
	}
	if len(run.cg) > 0 {
		if run.placedR, run.placedW, err = os.Pipe(); err != nil {
			run.Close()
			return nil, nil, fmt.Errorf("sandbox: %w", err)
		}
		limitArgs = append(limitArgs, launch.KeyPlaced)
	}
	cmd := s.command(p.UID, dir, limitArgs)
	cmd.ExtraFiles = []*os.File{bin}
	if run.placedR != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, run.placedR)
	}
	via := ""
	if s.cg != nil {
		via = s.cg.name
	}
	run.isolation = s.isolation() + "; limits: " + describeLimits(via, cgLimits, rl)
	return cmd, run, nil
}

// Place moves the started process pid into its cgroups and lets it go on to exec its binary;
// when it fails, the process ends without running it.
func (r *Run) Place(pid int) error {
	if r == nil || r.placedW == nil {
		return nil
	}
	r.placedR.Close()
	r.placedR = nil
	defer func() { r.placedW.Close(); r.placedW = nil }()
	for _, cg := range r.cg {
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("sandbox: place in %s: %w", cg, err)
		}
	}
	_, err := r.placedW.Write([]byte{1})
	return err
}

// Isolation says how the process is confined, for `edgefn get`.
func (r *Run) Isolation() string { return r.isolation }

// MemoryKilled reports whether the kernel killed the process for its memory limit.
func (r *Run) MemoryKilled() bool {
	if r == nil || r.memory == "" {
		return false
	}
	raw, err := os.ReadFile(r.memory)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(raw)) {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "oom_kill "); ok {
			v, _ := strconv.Atoi(n)
			return v > 0
		}
	}
	return false
}

// Close removes the working folder and the cgroups, once the process has exited.
func (r *Run) Close() {
	if r == nil {
		return
	}
	for _, f := range []*os.File{r.placedR, r.placedW} {
		if f != nil {
			f.Close()
		}
	}
	os.RemoveAll(r.dir)
	for _, cg := range r.cg {
		os.Remove(cg)
	}
}

// cgroups creates a cgroup per process under an "edgefn" folder of each controller.
type cgroups struct {
	name string // "cgroup v1" or "cgroup v2"
	v2   bool
	root string // v2: the edgefn folder; v1: the cgroup mount's root
}

const cgroupMount = "/sys/fs/cgroup"

// openCgroups finds the cgroups this gateway may create: v2 when it is the unified
// hierarchy, else v1's memory, pids and cpu controllers.
func openCgroups() (*cgroups, error) {
	if _, err := os.Stat(filepath.Join(cgroupMount, "cgroup.controllers")); err == nil {
		dir := filepath.Join(cgroupMount, "edgefn")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		for _, sub := range []string{cgroupMount, dir} {
			if err := os.WriteFile(filepath.Join(sub, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0); err != nil {
				return nil, fmt.Errorf("enable controllers: %w", err)
			}
		}
		return &cgroups{name: "cgroup v2", v2: true, root: dir}, nil
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if err := os.MkdirAll(filepath.Join(cgroupMount, c, "edgefn"), 0o755); err != nil {
			return nil, err
		}
	}
	return &cgroups{name: "cgroup v1", root: cgroupMount}, nil
}

// create makes the cgroups of one process and writes its limits; it returns their folders,
// the file that counts memory kills, and the limits it set, described.
func (c *cgroups) create(name string, l Limits) (dirs []string, memory string, set []string, err error) {
	type limit struct {
		controller, file, value, desc string
	}
	var limits []limit
	if l.Memory > 0 {
		f := "memory.limit_in_bytes"
		if c.v2 {
			f = "memory.max"
		}
		limits = append(limits, limit{"memory", f, strconv.FormatInt(l.Memory, 10), "memory " + mib(l.Memory)})
	}
	if l.Processes > 0 {
		limits = append(limits, limit{"pids", "pids.max", strconv.Itoa(l.Processes), "pids " + strconv.Itoa(l.Processes)})
	}
	if l.CPU > 0 {
		const period = 100_000
		quota := strconv.Itoa(int(math.Ceil(l.CPU * period)))
		desc := "cpu " + strconv.FormatFloat(l.CPU, 'f', -1, 64)
		if c.v2 {
			limits = append(limits, limit{"cpu", "cpu.max", quota + " " + strconv.Itoa(period), desc})
		} else {
			limits = append(limits, limit{"cpu", "cpu.cfs_quota_us", quota, desc})
		}
	}
	// The memory cgroup always exists: it tells a memory kill from a crash. A process is put
	// in a cpu cgroup only with a CPU limit: a group weighs as much as one task of the
	// gateway's, so the plugin's threads would get less of the CPU than they do alone.
	controllers := []string{"memory", "pids"}
	if l.CPU > 0 {
		controllers = append(controllers, "cpu")
	}
	if c.v2 {
		controllers = []string{""}
	}
	defer func() {
		if err != nil {
			for _, d := range dirs {
				os.Remove(d)
			}
		}
	}()
	for _, ctrl := range controllers {
		dir := filepath.Join(c.root, ctrl, "edgefn", name)
		if c.v2 {
			dir = filepath.Join(c.root, name)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return dirs, "", nil, err
		}
		dirs = append(dirs, dir)
		if ctrl == "memory" || c.v2 {
			memory = filepath.Join(dir, "memory.oom_control")
			if c.v2 {
				memory = filepath.Join(dir, "memory.events")
			}
		}
		for _, lim := range limits {
			if lim.controller != ctrl && !c.v2 {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, lim.file), []byte(lim.value), 0); err != nil {
				return dirs, "", nil, fmt.Errorf("cgroup %s: %w", lim.file, err)
			}
			set = append(set, lim.desc)
		}
	}
	return dirs, memory, set, nil
}
