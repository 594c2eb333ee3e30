//go:build linux && (amd64 || arm64)

package launch

// Its imports are what package os imports anyway: Go initializes a package once everything
// it imports is, in the order of their import paths, so strconv, strings, fmt, path/filepath
// or x/sys/unix here would wait for most of the gateway's packages (some 10 ms on a start).
import (
	"errors"
	"os"
	"runtime"
	"slices"
	"syscall"
)

// What package syscall leaves out, the same on amd64 and arm64.
const (
	oPath             = 0x200000
	prSetNoNewPrivs   = 38
	rlimitNproc       = 6
	sysCloseRange     = 436
	closeRangeCloexec = 4
	// lastCap is beyond the last capability of any kernel yet; dropping one the kernel does
	// not know fails with EINVAL, which is ignored.
	lastCap = 63
)

func prctl(option, arg uintptr) error {
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, option, arg, 0, 0, 0, 0); e != 0 {
		return e
	}
	return nil
}

func init() {
	if len(os.Args) == 0 || os.Args[0] != Arg0 {
		return
	}
	// Credentials, no_new_privs and the capability bounding set are per thread; exec takes
	// the calling thread's. Every step runs on this one.
	runtime.LockOSThread()
	probe, err := run(os.Args[1:])
	if err != nil {
		os.Stderr.WriteString("edgefn sandbox: " + err.Error() + "\n")
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
	job           bool
	limits        []rlimit
	// bin is the descriptor of the binary and env the plugin's environment, both from the job.
	bin int
	env []string
}

type rlimit struct {
	resource int
	value    uint64
}

var resources = map[string]int{"nofile": syscall.RLIMIT_NOFILE, "nproc": rlimitNproc, "data": syscall.RLIMIT_DATA}

func parse(args []string) (step, error) {
	var s step
	if err := s.parse(args); err != nil {
		return s, err
	}
	if s.job {
		args, env, bin, err := readJob()
		if err != nil {
			return s, wrap("read job", err)
		}
		s.bin, s.env = bin, env
		if err := s.parse(args); err != nil {
			return s, err
		}
	}
	if s.dir == "" {
		return s, errors.New("no " + KeyDir)
	}
	if !s.job && !s.probe {
		return s, errors.New("no " + KeyJob + " and no " + KeyProbe + ": nothing to exec")
	}
	return s, nil
}

func (s *step) parse(args []string) error {
	for _, a := range args {
		k, v, _ := cut(a, '=')
		switch k {
		case KeyUID:
			id, ok := number(v)
			if !ok || id <= 0 || id > 1<<31-1 {
				return errors.New("bad " + a)
			}
			s.uid, s.gid, s.setUID = int(id), int(id), true
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
		case KeyJob:
			s.job = true
		case KeyLimit:
			name, n, _ := cut(v, ':')
			r, ok := resources[name]
			value, valid := number(n)
			if !ok || !valid {
				return errors.New("bad " + a)
			}
			s.limits = append(s.limits, rlimit{r, value})
		default:
			return errors.New("unknown argument " + a)
		}
	}
	return nil
}

// readJob reads the job on JobFD (see JobFD).
func readJob() (args, env []string, bin int, err error) {
	b := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(4))
	n, oobn, _, _, err := syscall.Recvmsg(JobFD, b, oob, 0)
	if err != nil {
		return nil, nil, 0, err
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if n != 1 || err != nil || len(msgs) != 1 {
		return nil, nil, 0, errors.New("no binary")
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, nil, 0, errors.New("no binary")
	}
	var rest []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := syscall.Read(JobFD, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, 0, err
		}
		if n == 0 {
			break
		}
		rest = append(rest, buf[:n]...)
	}
	list := &args
	for len(rest) > 0 {
		i := 0
		for i < len(rest) && rest[i] != 0 {
			i++
		}
		if i == len(rest) {
			return nil, nil, 0, errors.New("truncated")
		}
		if i == 0 && list == &args {
			list = &env
		} else {
			*list = append(*list, string(rest[:i]))
		}
		rest = rest[i+1:]
	}
	return args, env, fds[0], nil
}

// run does every step, then execs the binary its job sent, unless probing.
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
	for _, l := range s.limits {
		if err := syscall.Setrlimit(l.resource, &syscall.Rlimit{Cur: l.value, Max: l.value}); err != nil {
			return s.probe, wrap("rlimit", err)
		}
	}
	if err := syscall.Chdir(s.dir); err != nil {
		return s.probe, wrap("chdir", err)
	}
	if err := dropBounding(); err != nil && (s.drop || s.setUID) {
		return s.probe, err
	}
	if s.setUID {
		// Group first: after setuid the process may no longer change it.
		if err := syscall.Setgroups(nil); err != nil {
			return s.probe, wrap("setgroups", err)
		}
		if err := syscall.Setgid(s.gid); err != nil {
			return s.probe, wrap("setgid", err)
		}
		if err := syscall.Setuid(s.uid); err != nil {
			return s.probe, wrap("setuid", err)
		}
	}
	// A change of credentials clears the parent-death signal; the gateway's death must still
	// take its plugins.
	if err := prctl(syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL)); err != nil {
		return s.probe, wrap("pdeathsig", err)
	}
	if err := prctl(prSetNoNewPrivs, 1); err != nil {
		return s.probe, wrap("no_new_privs", err)
	}
	// Only 0, 1 and 2 survive the exec: the binary's descriptor is read by the exec itself.
	if _, _, e := syscall.RawSyscall(sysCloseRange, JobFD, ^uintptr(0), closeRangeCloexec); e != 0 {
		return s.probe, wrap("close descriptors", e)
	}
	if s.probe {
		return true, nil
	}
	env := append(s.env, "TMPDIR="+s.dir)
	// /proc/self/fd/N execs the open file itself, not whatever its path names by now.
	err = syscall.Exec("/proc/self/fd/"+decimal(uint64(s.bin)), []string{"handler"}, env)
	return false, wrap("exec", err)
}

// mount gives the process its own /proc (of its PID namespace: the gateway and other
// functions are not in it), covers each hidden folder with an empty read-only tmpfs, and
// binds the working folder back in.
func (s step) mount() error {
	dir, err := syscall.Open(s.dir, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return wrap("open working folder", err)
	}
	defer syscall.Close(dir)
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return wrap("private mounts", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return wrap("mount /proc", err)
	}
	// A folder inside one already covered is gone with it.
	slices.Sort(s.hide)
	var covers []string
	for _, h := range s.hide {
		if _, err := os.Stat(h); err != nil || slices.ContainsFunc(covers, func(c string) bool { return within(h, c) }) {
			continue
		}
		if err := syscall.Mount("tmpfs", h, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "size=64k,mode=0755"); err != nil {
			return wrap("hide "+h, err)
		}
		covers = append(covers, h)
	}
	// The working folder keeps its path, so that the sockets the plugin makes there are
	// where the gateway dials them.
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return wrap("working folder", err)
	}
	if err := syscall.Mount("/proc/self/fd/"+decimal(uint64(dir)), s.dir, "", syscall.MS_BIND, ""); err != nil {
		return wrap("bind working folder", err)
	}
	for _, c := range covers {
		if err := syscall.Mount("", c, "", syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
			return wrap("hide "+c, err)
		}
	}
	return nil
}

// within reports whether path is dir or inside it; both are clean absolute paths.
func within(path, dir string) bool {
	return path == dir || len(path) > len(dir) && path[:len(dir)] == dir && (dir == "/" || path[len(dir)] == '/')
}

// cut is strings.Cut for one byte.
func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// number reads a decimal uint64.
func number(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}

// decimal formats n.
func decimal(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// stepError is a step that failed.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func wrap(step string, err error) error { return &stepError{step, err} }

// dropBounding empties the capability bounding set, so that no exec can gain a capability.
func dropBounding() error {
	for c := 0; c <= lastCap; c++ {
		if err := prctl(syscall.PR_CAPBSET_DROP, uintptr(c)); err != nil && err != syscall.EINVAL {
			return wrap("drop capabilities", err)
		}
	}
	return nil
}
