//go:build linux

package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func init() {
	if len(os.Args) == 0 || os.Args[0] != Arg0 {
		return
	}
	// Credentials, no_new_privs and the capability bounding set are per thread; exec takes
	// the calling thread's. Every step runs on this one.
	runtime.LockOSThread()
	probe, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "edgefn sandbox: %v\n", err)
		os.Exit(126)
	}
	if probe {
		os.Exit(0)
	}
	// run returns only after exec failed.
	os.Exit(126)
}

type step struct {
	uid, gid      int
	setUID, drop  bool
	mounts, probe bool
	hide          []string
	dir           string
	cgroups       []string
	limits        []rlimit
}

type rlimit struct {
	resource int
	value    uint64
}

var resources = map[string]int{"nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC, "data": unix.RLIMIT_DATA}

func parse(args []string) (step, error) {
	var s step
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case KeyUID:
			id, err := strconv.Atoi(v)
			if err != nil || id <= 0 {
				return s, fmt.Errorf("bad %s", a)
			}
			s.uid, s.gid, s.setUID = id, id, true
		case KeyDrop:
			s.drop = true
		case KeyMounts:
			s.mounts = true
		case KeyProbe:
			s.probe = true
		case KeyHide:
			s.hide = append(s.hide, v)
		case KeyDir:
			s.dir = v
		case KeyCgroup:
			s.cgroups = append(s.cgroups, v)
		case KeyLimit:
			name, n, _ := strings.Cut(v, ":")
			r, ok := resources[name]
			value, err := strconv.ParseUint(n, 10, 64)
			if !ok || err != nil {
				return s, fmt.Errorf("bad %s", a)
			}
			s.limits = append(s.limits, rlimit{r, value})
		default:
			return s, fmt.Errorf("unknown argument %q", a)
		}
	}
	if s.dir == "" {
		return s, fmt.Errorf("no %s", KeyDir)
	}
	return s, nil
}

// run does every step, then execs the binary at BinaryFD unless probing.
func run(args []string) (probe bool, err error) {
	s, err := parse(args)
	if err != nil {
		return false, err
	}
	if s.mounts {
		if err := s.mount(); err != nil {
			return s.probe, err
		}
	}
	for _, cg := range s.cgroups {
		// "0" is the writer itself.
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte("0"), 0); err != nil {
			return s.probe, fmt.Errorf("join cgroup: %w", err)
		}
	}
	for _, l := range s.limits {
		if err := unix.Setrlimit(l.resource, &unix.Rlimit{Cur: l.value, Max: l.value}); err != nil {
			return s.probe, fmt.Errorf("rlimit %d: %w", l.resource, err)
		}
	}
	if err := unix.Chdir(s.dir); err != nil {
		return s.probe, fmt.Errorf("chdir: %w", err)
	}
	if err := dropBounding(); err != nil && (s.drop || s.setUID) {
		return s.probe, err
	}
	if s.setUID {
		// Group first: after setuid the process may no longer change it.
		if err := syscall.Setgroups(nil); err != nil {
			return s.probe, fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setgid(s.gid); err != nil {
			return s.probe, fmt.Errorf("setgid: %w", err)
		}
		if err := syscall.Setuid(s.uid); err != nil {
			return s.probe, fmt.Errorf("setuid: %w", err)
		}
	}
	// A change of credentials clears the parent-death signal; the gateway's death must still
	// take its plugins.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return s.probe, fmt.Errorf("pdeathsig: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return s.probe, fmt.Errorf("no_new_privs: %w", err)
	}
	// Only 0, 1 and 2 survive the exec: the binary's descriptor is read by the exec itself.
	if err := unix.CloseRange(BinaryFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return s.probe, fmt.Errorf("close descriptors: %w", err)
	}
	if s.probe {
		return true, nil
	}
	env := append(os.Environ(), "TMPDIR="+s.dir)
	// /proc/self/fd/N execs the open file itself, not whatever its path names by now.
	err = syscall.Exec("/proc/self/fd/"+strconv.Itoa(BinaryFD), []string{"handler"}, env)
	return false, fmt.Errorf("exec: %w", err)
}

// mount gives the process its own /proc (of its PID namespace: the gateway and other
// functions are not in it), covers each hidden folder with an empty read-only tmpfs, and
// binds the working folder back in.
func (s step) mount() error {
	dir, err := unix.Open(s.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open working folder: %w", err)
	}
	defer unix.Close(dir)
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("private mounts: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	// A folder inside one already covered is gone with it.
	slices.Sort(s.hide)
	var covers []string
	for _, h := range s.hide {
		if _, err := os.Stat(h); err != nil || slices.ContainsFunc(covers, func(c string) bool { return within(h, c) }) {
			continue
		}
		if err := unix.Mount("tmpfs", h, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64k,mode=0755"); err != nil {
			return fmt.Errorf("hide %s: %w", h, err)
		}
		covers = append(covers, h)
	}
	// The working folder keeps its path, so that the sockets the plugin makes there are
	// where the gateway dials them.
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("working folder: %w", err)
	}
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", dir), s.dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind working folder: %w", err)
	}
	for _, c := range covers {
		if err := unix.Mount("", c, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("hide %s: %w", c, err)
		}
	}
	return nil
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel) || rel == "."
}

// dropBounding empties the capability bounding set, so that no exec can gain a capability.
func dropBounding() error {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capabilities: %w", err)
		}
	}
	return nil
}
