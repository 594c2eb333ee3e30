//go:build linux && (amd64 || arm64)

package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMain doubles as the sandboxed program: started with probeEnv set, it tries what a
// hostile function would and prints what happened.
func TestMain(m *testing.M) {
	if os.Getenv(probeEnv) != "" {
		json.NewEncoder(os.Stdout).Encode(attempt())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const probeEnv = "SANDBOX_TEST_ATTEMPT"

type attempts struct {
	UID         int
	PID         int
	ReadEnviron string // error reading the gateway's environment, "" when it worked
	Signal      string
	WriteData   string
	ReadData    string
	NoNewPrivs  string
	CapEff      string
	FDs         []string
	WorkDir     string
	TmpDir      string
	WriteTmp    string
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func attempt() attempts {
	gw, _ := strconv.Atoi(os.Getenv("GATEWAY_PID"))
	data := os.Getenv("DATA_DIR")
	a := attempts{UID: os.Getuid(), PID: os.Getpid(), TmpDir: os.Getenv("TMPDIR")}
	_, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", gw))
	a.ReadEnviron = errString(err)
	a.Signal = errString(syscall.Kill(gw, 0))
	a.WriteData = errString(os.WriteFile(filepath.Join(data, "planted"), []byte("x"), 0o644))
	_, err = os.ReadFile(filepath.Join(data, "secret"))
	a.ReadData = errString(err)
	status, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok {
			a.NoNewPrivs = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			a.CapEff = strings.TrimSpace(v)
		}
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		target, _ := os.Readlink("/proc/self/fd/" + fd.Name())
		a.FDs = append(a.FDs, target)
	}
	a.WorkDir, _ = os.Getwd()
	a.WriteTmp = errString(os.WriteFile(filepath.Join(a.TmpDir, "mine"), []byte("x"), 0o600))
	return a
}

// TestSandboxConfinesAProcess starts this test binary in the sandbox and checks each attempt
// of a hostile function fails, and that the same attempts succeed unconfined.
func TestSandboxConfinesAProcess(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	sb, err := New(Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	isolation, refused := sb.Describe()
	t.Logf("isolation: %s; refused: %q", isolation, refused)
	if !sb.On() {
		t.Skipf("the kernel refuses every mechanism here: %s", refused)
	}
	exe, _ := os.Executable()
	bin, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	env := []string{probeEnv + "=1", "GATEWAY_PID=" + strconv.Itoa(os.Getpid()), "DATA_DIR=" + data}
	limits := Limits{Memory: 64 << 20, Files: 64}
	if raceEnabled {
		limits.Memory = 0
	}
	proc, err := sb.Start(Process{Function: "probe", UID: FirstUID + 7, Limits: limits}, bin, env)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	stdout, _ := io.ReadAll(proc.Stdout())
	stderr, _ := io.ReadAll(proc.Stderr())
	if err := proc.Wait(); err != nil {
		t.Fatalf("sandboxed run: %v\n%s", err, stderr)
	}
	t.Logf("isolation of the process: %s", proc.Isolation())
	var got attempts
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("%v: %q %s", err, stdout, stderr)
	}
	t.Logf("%+v", got)
	if got.ReadEnviron == "" {
		t.Error("read the gateway's environment")
	}
	if got.Signal == "" {
		t.Error("signalled the gateway")
	}
	if got.WriteData == "" {
		t.Error("wrote into the data dir")
	}
	if got.ReadData == "" {
		t.Error("read the data dir")
	}
	if got.NoNewPrivs != "1" {
		t.Errorf("NoNewPrivs %q, want 1", got.NoNewPrivs)
	}
	if strings.Trim(got.CapEff, "0") != "" {
		t.Errorf("effective capabilities %s, want none", got.CapEff)
	}
	// The binary the launcher held and the gateway's files are not open; the Go runtime's
	// own descriptors (its cgroup files, epoll) and the standard ones are.
	for _, fd := range got.FDs {
		if fd == exe || strings.HasPrefix(fd, data) || strings.HasPrefix(fd, "socket:") {
			t.Errorf("a descriptor of %s is open", fd)
		}
	}
	if got.TmpDir != proc.dir || got.WorkDir != proc.dir || got.WriteTmp != "" {
		t.Errorf("working folder %q, TMPDIR %q (write: %s), want %q", got.WorkDir, got.TmpDir, got.WriteTmp, proc.dir)
	}
	if sb.root && got.UID != FirstUID+7 {
		t.Errorf("uid %d, want %d", got.UID, FirstUID+7)
	}
	if _, err := os.Stat(filepath.Join(data, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was planted in the data dir: %v", err)
	}
}

// TestSandboxAsAnotherUser runs TestSandboxConfinesAProcess as a user that is not root, where
// a user namespace stands in for the uid of its own: the same attempts fail.
func TestSandboxAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("TestSandboxConfinesAProcess runs as this user already")
	}
	// A copy of the test binary the user can reach.
	self, _ := os.Executable()
	raw, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "sandbox.test")
	if err := os.WriteFile(exe, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(exe, "-test.run=^TestSandboxConfinesAProcess$", "-test.v", "-test.count=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Env = []string{"TMPDIR=" + os.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid 65534: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("isolation: user namespace, pid and mount namespaces")) || !bytes.Contains(out, []byte("--- PASS")) {
		t.Fatalf("as uid 65534, not confined by a user namespace:\n%s", out)
	}
}

// TestSweepRemovesWhatGoneGatewaysLeft: the working folders and cgroups named after a pid
// that no longer exists are removed; a live gateway's, and names of another form, stay.
func TestSweepRemovesWhatGoneGatewaysLeft(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(gone.Process.Pid)
	dir := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deadRun := mk(runPrefix + dead + "-1/f-2")
	liveRun := mk(runPrefix + owner + "3")
	other := mk("edgefn-run-x")
	deadCgroup := mk(dead + "-abc")
	liveCgroup := mk(owner + "def")
	sweep(dir, runPrefix)
	sweep(dir, "")
	for _, p := range []string{filepath.Dir(deadRun), deadCgroup} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s stayed: %v", p, err)
		}
	}
	for _, p := range []string{liveRun, other, liveCgroup} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}
