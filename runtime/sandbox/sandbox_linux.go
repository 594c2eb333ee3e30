//go:build linux && (amd64 || arm64)

package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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

	// ready holds the launchers kept ready (see warm); fill refills it, one at a time.
	ready   chan *warm
	filling atomic.Bool
	mu      sync.Mutex // guards closed, and sends on ready against Close
	closed  bool
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
	// binds them in: 0711 lists nothing. Its name, like the cgroups', starts with the gateway's
	// pid, so that a gateway that starts removes what one that was killed left (sweep).
	sweep(os.TempDir(), runPrefix)
	runRoot, err := os.MkdirTemp("", runPrefix+owner)
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
	if s.On() {
		s.ready = make(chan *warm, poolSize)
		go s.fill()
	}
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

// Close stops the launchers kept ready and removes the working folders' folder.
func (s *Sandbox) Close() {
	if s == nil || s.runRoot == "" {
		return
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for {
		select {
		case w := <-s.ready:
			w.kill()
			continue
		default:
		}
		break
	}
	os.RemoveAll(s.runRoot)
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
	args := []string{launch.KeyProbe, launch.KeyDir + "=" + dir}
	if s.root {
		args = append(args, launch.KeyUID+"="+strconv.Itoa(uid))
	}
	cmd := s.command(args)
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

// command is the launcher's command line: what every process of this sandbox gets, and extra.
func (s *Sandbox) command(extra []string) *exec.Cmd {
	args := []string{launch.Arg0}
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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
	// None of the gateway's environment: a plugin's comes with its job.
	return &exec.Cmd{Path: s.exe, Args: append(args, extra...), Env: []string{}, SysProcAttr: attr}
}

// Start starts the binary open as bin as p, with the environment env, and returns it with
// its pipes; the caller keeps bin open until then. A launcher kept ready takes it when there
// is one (see warm), and another is started for the next.
func (s *Sandbox) Start(p Process, bin *os.File, env []string) (*Proc, error) {
	w := s.take()
	proc, err := s.start(w, p, bin, env)
	if err != nil {
		w.kill()
		go s.fill()
		return nil, err
	}
	return proc, nil
}

// take returns a ready launcher, or starts one. The pool is filled again refillDelay after
// the process has said its first line (see refill): a launcher starting beside a plugin that
// is still connecting and answering its first calls would slow them on a small machine.
func (s *Sandbox) take() *warm {
	select {
	case w := <-s.ready:
		return w
	default:
		return s.startWarm()
	}
}

// refill passes reads through, and fills the sandbox's pool once the first one returned.
type refill struct {
	io.ReadCloser
	once sync.Once
	s    *Sandbox
}

func (r *refill) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.once.Do(func() { time.AfterFunc(refillDelay, r.s.fill) })
	return n, err
}

func (s *Sandbox) start(w *warm, p Process, bin *os.File, env []string) (*Proc, error) {
	if w.err != nil {
		return nil, w.err
	}
	dir, err := os.MkdirTemp(s.runRoot, p.Function+"-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	proc := &Proc{cmd: w.cmd, stdout: &refill{ReadCloser: w.stdout, s: s}, stderr: w.stderr, dir: dir, cg: w.cg, memory: w.memory}
	w.cg = nil // the process's now
	fail := func(err error) (*Proc, error) {
		os.RemoveAll(dir)
		w.cg = proc.cg
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	args := []string{launch.KeyDir + "=" + dir}
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
			return fail(err)
		}
		args = append(args, launch.KeyUID+"="+strconv.Itoa(p.UID))
	}
	l := p.Limits
	var cgLimits, rl []string
	if s.cg != nil {
		if cgLimits, err = s.cg.limit(&proc.cg, w.name, l, w.cmd.Process.Pid); err != nil {
			return fail(err)
		}
	}
	if l.Memory > 0 && proc.memory == "" {
		// Go reserves its address space up front: RLIMIT_AS would stop it starting, RLIMIT_DATA
		// counts what it actually maps writable, and its runtime maps some 40 MiB for its own
		// bookkeeping before the first allocation.
		args = append(args, launch.KeyLimit+"=data:"+strconv.FormatInt(l.Memory+rlimitDataSlack, 10))
		rl = append(rl, "memory "+mib(l.Memory))
	}
	if l.Processes > 0 && s.root && !slices.ContainsFunc(cgLimits, func(c string) bool { return strings.HasPrefix(c, "pids") }) {
		// RLIMIT_NPROC counts the uid's threads: a uid of the function's own is the function.
		args = append(args, launch.KeyLimit+"=nproc:"+strconv.Itoa(l.Processes))
		rl = append(rl, "processes "+strconv.Itoa(l.Processes))
	}
	if l.Files > 0 {
		args = append(args, launch.KeyLimit+"=nofile:"+strconv.Itoa(l.Files))
		rl = append(rl, "files "+strconv.Itoa(l.Files))
	}
	// The job: the binary's descriptor with one byte, then the arguments, an empty one and
	// the environment, each ended by a NUL (see launch.JobFD).
	var job []byte
	for _, a := range args {
		job = append(append(job, a...), 0)
	}
	job = append(job, 0)
	for _, kv := range env {
		job = append(append(job, kv...), 0)
	}
	if err := syscall.Sendmsg(int(w.job.Fd()), []byte{0}, syscall.UnixRights(int(bin.Fd())), nil, 0); err != nil {
		return fail(err)
	}
	if _, err := w.job.Write(job); err != nil {
		return fail(err)
	}
	w.job.Close()
	via := ""
	if s.cg != nil {
		via = s.cg.name
	}
	proc.isolation = s.isolation() + "; limits: " + describeLimits(via, cgLimits, rl)
	return proc, nil
}

// refillDelay is how long after a process's first line the pool is filled again.
const refillDelay = 250 * time.Millisecond

// runPrefix starts the name of a gateway's folder of working folders, owner follows it and
// starts the names of its cgroups: its pid and a dash.
const runPrefix = "edgefn-run-"

var owner = strconv.Itoa(os.Getpid()) + "-"

// sweep removes, from dir, what the gateways that are gone left: the entries named prefix,
// then the pid of a process that no longer exists, then a dash. A cgroup is removed only once
// empty, so a live process keeps its own.
func sweep(dir, prefix string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pid, _, ok := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || n <= 0 || syscall.Kill(n, 0) != syscall.ESRCH {
			continue
		}
		if prefix == "" {
			os.Remove(filepath.Join(dir, e.Name())) // a cgroup: rmdir, never its files
		} else {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// poolSize is how many launchers the gateway keeps ready: a deploy, a rollback or a crash
// then starts its processes without waiting for a launcher's own start.
const poolSize = 2

// warm is a launcher started ahead of need: in its namespaces and cgroups, waiting for its job.
type warm struct {
	cmd            *exec.Cmd
	job            *os.File // the gateway's end of the job socket
	stdout, stderr io.ReadCloser
	name           string   // of its cgroups
	cg             []string // its cgroups, until a process takes them
	memory         string
	err            error // why it could not start
}

// startWarm starts a launcher that waits for its job, and places it in cgroups of its own.
func (s *Sandbox) startWarm() *warm {
	w := &warm{name: owner + strconv.FormatUint(rand.Uint64(), 36)}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		w.err = fmt.Errorf("sandbox: %w", err)
		return w
	}
	w.job = os.NewFile(uintptr(fds[0]), "job")
	theirs := os.NewFile(uintptr(fds[1]), "job")
	defer theirs.Close()
	w.cmd = s.command([]string{launch.KeyJob})
	w.cmd.ExtraFiles = []*os.File{theirs}
	if w.stdout, err = w.cmd.StdoutPipe(); err == nil {
		w.stderr, err = w.cmd.StderrPipe()
	}
	if err == nil && s.cg != nil {
		w.cg, w.memory, err = s.cg.create(w.name)
	}
	if err == nil {
		err = w.cmd.Start()
	}
	if err == nil {
		// Before the launcher can exec anything: it waits for its job.
		err = s.cg.place(w.cg, w.cmd.Process.Pid)
	}
	if err != nil {
		w.kill()
		w.err = fmt.Errorf("sandbox: start a launcher: %w", err)
	}
	return w
}

// kill ends a launcher that took no job, and removes its cgroups.
func (w *warm) kill() {
	if w.job != nil {
		w.job.Close()
	}
	if w.cmd != nil && w.cmd.Process != nil {
		w.cmd.Process.Kill()
		w.cmd.Wait()
	}
	for _, cg := range w.cg {
		os.Remove(cg)
	}
}

// fill starts launchers until poolSize are ready; one fill runs at a time.
func (s *Sandbox) fill() {
	if !s.filling.CompareAndSwap(false, true) {
		return
	}
	defer s.filling.Store(false)
	for len(s.ready) < cap(s.ready) {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		w := s.startWarm()
		if w.err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			w.kill()
			return
		}
		s.ready <- w
		s.mu.Unlock()
	}
}

// Proc is a started plugin process, with its share of the sandbox: its working folder and
// cgroups.
type Proc struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
	dir            string
	cg             []string
	memory         string // the cgroup file whose oom_kill line counts memory kills
	isolation      string
}

// Stdout and Stderr are the process's outputs.
func (p *Proc) Stdout() io.ReadCloser { return p.stdout }
func (p *Proc) Stderr() io.ReadCloser { return p.stderr }

// Pid is the process's id, in the gateway's PID namespace.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Wait waits for the process to exit (its outputs read to their end first, as exec.Cmd wants).
func (p *Proc) Wait() error { return p.cmd.Wait() }

// Kill kills the process; it may be called more than once.
func (p *Proc) Kill() error {
	if err := p.cmd.Process.Kill(); !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Isolation says how the process is confined, for `edgefn get`.
func (p *Proc) Isolation() string { return p.isolation }

// MemoryKilled reports whether the kernel killed the process for its memory limit.
func (p *Proc) MemoryKilled() bool {
	if p == nil || p.memory == "" {
		return false
	}
	raw, err := os.ReadFile(p.memory)
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
func (p *Proc) Close() {
	if p == nil {
		return
	}
	os.RemoveAll(p.dir)
	for _, cg := range p.cg {
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
		sweep(dir, "")
		for _, sub := range []string{cgroupMount, dir} {
			if err := os.WriteFile(filepath.Join(sub, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0); err != nil {
				return nil, fmt.Errorf("enable controllers: %w", err)
			}
		}
		return &cgroups{name: "cgroup v2", v2: true, root: dir}, nil
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		dir := filepath.Join(cgroupMount, c, "edgefn")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		sweep(dir, "")
	}
	return &cgroups{name: "cgroup v1", root: cgroupMount}, nil
}

// create makes the cgroups of one launcher, name: memory and pids (v1), or one (v2); it
// returns their folders and the file that counts memory kills. The memory cgroup always
// exists: it tells a memory kill from a crash.
func (c *cgroups) create(name string) (dirs []string, memory string, err error) {
	if c == nil {
		return nil, "", nil
	}
	if c.v2 {
		dir := filepath.Join(c.root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, "", err
		}
		return []string{dir}, filepath.Join(dir, "memory.events"), nil
	}
	for _, ctrl := range []string{"memory", "pids"} {
		dir := filepath.Join(c.root, ctrl, "edgefn", name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			for _, d := range dirs {
				os.Remove(d)
			}
			return nil, "", err
		}
		dirs = append(dirs, dir)
	}
	return dirs, filepath.Join(dirs[0], "memory.oom_control"), nil
}

// place moves process pid into the cgroups dirs.
func (c *cgroups) place(dirs []string, pid int) error {
	for _, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("place in %s: %w", dir, err)
		}
	}
	return nil
}

// limit writes l into the cgroups dirs of the launcher name, pid; it returns the limits it set,
// described. With a CPU limit, v1 puts the process in a cpu cgroup too (added to dirs): only
// then, since in a group of its own a process's threads weigh as one task of the gateway's.
func (c *cgroups) limit(dirs *[]string, name string, l Limits, pid int) (set []string, err error) {
	write := func(dir, file, value, desc string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
			return fmt.Errorf("cgroup %s: %w", file, err)
		}
		set = append(set, desc)
		return nil
	}
	memory, pids := (*dirs)[0], (*dirs)[0]
	if !c.v2 {
		pids = (*dirs)[1]
	}
	if l.Memory > 0 {
		f := "memory.limit_in_bytes"
		if c.v2 {
			f = "memory.max"
		}
		if err := write(memory, f, strconv.FormatInt(l.Memory, 10), "memory "+mib(l.Memory)); err != nil {
			return nil, err
		}
	}
	if l.Processes > 0 {
		if err := write(pids, "pids.max", strconv.Itoa(l.Processes), "pids "+strconv.Itoa(l.Processes)); err != nil {
			return nil, err
		}
	}
	if l.CPU > 0 {
		const period = 100_000
		quota := strconv.Itoa(int(math.Ceil(l.CPU * period)))
		desc := "cpu " + strconv.FormatFloat(l.CPU, 'f', -1, 64)
		if c.v2 {
			return set, write(memory, "cpu.max", quota+" "+strconv.Itoa(period), desc)
		}
		dir := filepath.Join(c.root, "cpu", "edgefn", name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		*dirs = append(*dirs, dir)
		if err := write(dir, "cpu.cfs_quota_us", quota, desc); err != nil {
			return nil, err
		}
		if err := c.place([]string{dir}, pid); err != nil {
			return nil, err
		}
	}
	return set, nil
}
