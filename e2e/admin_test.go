package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// cli runs the edgefn CLI against g and returns stdout, stderr and the exit code. The CLI
// finds the admin token as a user's would: in the file under g's --data-dir, or when the
// gateway was given one, in EDGEFN_TOKEN (a --token among args wins over both).
func cli(t testing.TB, g *gateway, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bins.edgefn, append(args, "--server", g.AdminURL, "--data-dir", g.DataDir)...)
	cmd.Env = os.Environ()
	if g.given {
		cmd.Env = append(cmd.Env, "EDGEFN_TOKEN="+g.AdminToken)
	}
	return runCmd(t, cmd)
}

// runCmd runs cmd and returns stdout, stderr and the exit code.
func runCmd(t testing.TB, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func mustCLI(t testing.TB, g *gateway, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, g, args...)
	if code != 0 {
		t.Fatalf("edgefn %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// versionedManifest is the test function with VERSION set, deployed through the admin API.
func versionedManifest(t testing.TB, v int) string {
	return writeManifest(t, fmt.Sprintf(`
name: t
handler: {{testfn}}
instances: 2
env: {VERSION: "%d"}
triggers:
  - http: {method: GET, path: "/t/{op}"}
`, v))
}

func servedVersion(t testing.TB, g *gateway) string {
	var info struct{ Version string }
	r := do(t, "GET", g.URL+"/t/info", nil)
	if r.Status != 200 {
		t.Fatalf("/t/info = %d %s", r.Status, r.Body)
	}
	r.JSON(t, &info)
	return info.Version
}

func TestDeployRedeployUnderLoadAndRollback(t *testing.T) {
	g := startGateway(t, "")
	out := mustCLI(t, g, "deploy", versionedManifest(t, 1))
	if !strings.Contains(out, "deployed t version 1") {
		t.Fatalf("deploy said %q", out)
	}
	if v := servedVersion(t, g); v != "1" {
		t.Fatalf("version %s served, want 1", v)
	}

	// A steady stream of requests while version 2 replaces version 1: none may fail.
	var (
		stop     atomic.Bool
		failures atomic.Int64
		seen2    atomic.Int64
		total    atomic.Int64
		wg       sync.WaitGroup
		firstErr atomic.Value
	)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r, err := tryDo("GET", g.URL+"/t/info", nil)
				total.Add(1)
				if err != nil || r.Status != 200 {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%v %d %s", err, r.Status, r.Body))
					continue
				}
				if bytes.Contains(r.Body, []byte(`"version":"2"`)) {
					seen2.Add(1)
				}
			}
		}()
	}
	testkit.Eventually(t, 10*time.Second, "traffic to flow", func() bool { return total.Load() > 100 })
	out = mustCLI(t, g, "deploy", versionedManifest(t, 2))
	if !strings.Contains(out, "deployed t version 2") {
		t.Fatalf("redeploy said %q", out)
	}
	testkit.Eventually(t, 10*time.Second, "version 2 to take traffic", func() bool { return seen2.Load() > 200 })
	stop.Store(true)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during the redeploy; first: %v", n, total.Load(), firstErr.Load())
	}
	t.Logf("%d requests, none failed, across the redeploy", total.Load())

	out = mustCLI(t, g, "rollback", "t")
	if !strings.Contains(out, "rolled back to version 1") {
		t.Fatalf("rollback said %q", out)
	}
	if v := servedVersion(t, g); v != "1" {
		t.Fatalf("after rollback version %s served, want 1", v)
	}
	out = mustCLI(t, g, "list")
	if !strings.Contains(out, "t") || !strings.Contains(out, "ready") || !strings.Contains(out, "2/2") {
		t.Fatalf("list said:\n%s", out)
	}
}

func TestRestartKeepsDeployedFunctions(t *testing.T) {
	dataDir := t.TempDir()
	g := startGateway(t, dataDir)
	mustCLI(t, g, "deploy", versionedManifest(t, 1))
	mustCLI(t, g, "deploy", versionedManifest(t, 2))
	g.stop()
	if err := g.wait(time.Second); err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}

	g2 := startGateway(t, dataDir)
	testkit.Eventually(t, 10*time.Second, "the stored function to serve", func() bool {
		r, err := tryDo("GET", g2.URL+"/t/info", nil)
		return err == nil && r.Status == 200
	})
	if v := servedVersion(t, g2); v != "2" {
		t.Fatalf("after restart version %s served, want 2", v)
	}
	mustCLI(t, g2, "rollback", "t")
	if v := servedVersion(t, g2); v != "1" {
		t.Fatalf("rollback after restart serves %s, want 1", v)
	}
	mustCLI(t, g2, "delete", "t")
	if r := do(t, "GET", g2.URL+"/t/info", nil); r.Status != 404 {
		t.Fatalf("after delete = %d", r.Status)
	}
}

func TestBadManifestIsRefusedWhole(t *testing.T) {
	dir := t.TempDir()
	good := strings.ReplaceAll("name: good\nhandler: {{testfn}}\ntriggers:\n  - http: {method: GET, path: \"/good/{op}\"}\n", "{{testfn}}", bins.testfn)
	bad := "name: Bad_Name\nhandler: x\nbuild: y\ntimeout: soon\ntriggers:\n  - http:\n      method: FETCH\n      path: /admin/x\n  - kafka: {topic: x}\n"
	os.WriteFile(filepath.Join(dir, "a-good.yaml"), []byte(good), 0o600)
	os.WriteFile(filepath.Join(dir, "b-bad.yaml"), []byte(bad), 0o600)

	addr := freeAddr(t)
	cmd := exec.Command(bins.edgefn, "serve", "--listen", addr, "--data-dir", t.TempDir(), "--manifests", dir)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() == 0 {
		t.Fatalf("serve with a bad manifest: err %v, want a non-zero exit\n%s", err, out)
	}
	badFile := filepath.Join(dir, "b-bad.yaml")
	for _, want := range []string{
		badFile + ":1: name: must match",
		badFile + ":1: handler: exactly one of handler or build is required",
		badFile + ":4: timeout: invalid duration \"soon\"",
		badFile + ":7: triggers[0].http.method: must be one of",
		badFile + ":8: triggers[0].http.path: route prefix /admin is reserved",
		badFile + ":9: triggers[1]: unknown trigger kind \"kafka\"",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	if bytes.Contains(out, []byte("edgefn serving")) || bytes.Contains(out, []byte("function deployed")) {
		t.Fatalf("something was deployed or served despite the bad manifest:\n%s", out)
	}

	// Through the CLI: every error listed, nothing deployed.
	g := startGateway(t, "")
	stdout, stderr, code := cli(t, g, "deploy", filepath.Join(dir, "a-good.yaml"), badFile)
	if code == 0 || !strings.Contains(stderr, badFile+":9:") || !strings.Contains(stderr, badFile+":1:") {
		t.Fatalf("deploy of a bad manifest: exit %d\n%s%s", code, stdout, stderr)
	}
	if r := g.admin(t, "GET", "/admin/v1/functions", nil); !strings.Contains(string(r.Body), `"functions":[]`) {
		t.Fatalf("something was deployed: %s", r.Body)
	}
}

func TestAdminToken(t *testing.T) {
	g := startGateway(t, "", "--admin-token", "s3cret-token")
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret-token"}} {
		r := do(t, "GET", g.URL+"/admin/v1/functions", nil, h...)
		if r.Status != 401 || !strings.Contains(string(r.Body), `"unauthorized"`) {
			t.Fatalf("admin with %v = %d %s, want 401", h, r.Status, r.Body)
		}
	}
	if r := do(t, "GET", g.URL+"/admin/v1/functions", nil, "Authorization", "Bearer s3cret-token"); r.Status != 200 {
		t.Fatalf("admin with the token = %d %s", r.Status, r.Body)
	}
	_, stderr, code := cli(t, g, "list", "--token", "wrong")
	if code == 0 || !strings.Contains(stderr, "admin token required") {
		t.Fatalf("CLI with a wrong token: exit %d %s", code, stderr)
	}
	if _, stderr, code := cli(t, g, "list", "--token", "s3cret-token"); code != 0 || !strings.Contains(stderr, "no functions deployed") {
		t.Fatalf("CLI list with the token: exit %d %s", code, stderr)
	}
}

// children returns the PIDs whose parent is pid: its plugin processes, and apart, the
// sandbox's launchers waiting for a plugin to start (docs/security.md), whose command line
// starts with edgefn-sandbox.
func children(pid int) (plugins, launchers []int) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.HasPrefix(cmdline, []byte("edgefn-sandbox\x00")) {
			launchers = append(launchers, p)
		} else {
			plugins = append(plugins, p)
		}
	}
	return plugins, launchers
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && syscall.Kill(pid, 0) == nil
}

func TestSIGKILLOfGatewayLeavesNoPlugin(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: t
handler: {{testfn}}
instances: 3
triggers:
  - http: {method: GET, path: "/t/{op}"}
`))
	plugins, launchers := children(g.cmd.Process.Pid)
	if len(plugins) != 3 {
		t.Fatalf("%d plugin processes, want 3", len(plugins))
	}
	g.kill()
	testkit.Eventually(t, 5*time.Second, "every plugin and launcher to die with the gateway", func() bool {
		for _, p := range append(plugins, launchers...) {
			if alive(p) {
				return false
			}
		}
		return true
	})
}

func TestCircuitBreakerOpensAndRecovers(t *testing.T) {
	fixed := filepath.Join(t.TempDir(), "fixed")
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: t
handler: {{testfn}}
breaker: {failures: 3, cooldown: 1s}
sandbox: off
env: {FIXED_FILE: "`+fixed+`"}
triggers:
  - http: {method: GET, path: "/t/{op}"}
`))
	for i := 0; i < 3; i++ {
		if r := do(t, "GET", g.URL+"/t/fail", nil); r.Status != 500 {
			t.Fatalf("failing call %d = %d %s", i, r.Status, r.Body)
		}
	}
	r := do(t, "GET", g.URL+"/t/fail", nil)
	if r.Status != 503 || !strings.Contains(string(r.Body), "circuit_open") || r.Header.Get("Retry-After") == "" {
		t.Fatalf("call with the breaker open = %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	var info struct{ Breaker, State string }
	g.admin(t, "GET", "/admin/v1/functions/t", nil).JSON(t, &info)
	if info.Breaker != "open" || info.State != "failing" {
		t.Fatalf("breaker %q state %q, want open/failing", info.Breaker, info.State)
	}
	if err := os.WriteFile(fixed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the half-open probe to close the breaker", func() bool {
		r, err := tryDo("GET", g.URL+"/t/fail", nil)
		return err == nil && r.Status == 200 && string(r.Body) == "fixed"
	})
	g.admin(t, "GET", "/admin/v1/functions/t", nil).JSON(t, &info)
	if info.Breaker != "closed" {
		t.Fatalf("breaker %q after recovery, want closed", info.Breaker)
	}
}

func TestLogsReachTheGatewayAndTheCLI(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest))
	do(t, "GET", g.URL+"/t/log?marker=m4rk", nil, "X-Request-ID", "req-log-1")
	testkit.Eventually(t, 5*time.Second, "the log lines", func() bool {
		out, _, _ := cli(t, g, "logs", "t")
		return strings.Contains(out, "log line from testfn") && strings.Contains(out, "stdout line m4rk")
	})
	// The gateway's own log carries the function's name and the request ID.
	testkit.Eventually(t, 5*time.Second, "the structured gateway log line", func() bool {
		for _, line := range strings.Split(g.logs.String(), "\n") {
			if strings.Contains(line, `"msg":"log line from testfn"`) && strings.Contains(line, `"function":"t"`) &&
				strings.Contains(line, `"request_id":"req-log-1"`) {
				return true
			}
		}
		return false
	})
}

func TestChecksumIsEnforced(t *testing.T) {
	g := startGateway(t, "")
	path := writeManifest(t, `
name: t
handler: {{testfn}}
sha256: 0000000000000000000000000000000000000000000000000000000000000000
triggers:
  - http: {method: GET, path: "/t/{op}"}
`)
	_, stderr, code := cli(t, g, "deploy", path)
	if code == 0 || !strings.Contains(stderr, "checksum") {
		t.Fatalf("deploy with a wrong sha256: exit %d %s", code, stderr)
	}
	if r := do(t, "GET", g.URL+"/t/info", nil); r.Status != 404 {
		t.Fatalf("a refused deploy serves: %d", r.Status)
	}
	// The binary's own SHA-256, in capitals as some tools print it, is accepted.
	bin, err := os.ReadFile(bins.testfn)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	path = writeManifest(t, `
name: t
handler: {{testfn}}
sha256: `+strings.ToUpper(hex.EncodeToString(sum[:]))+`
triggers:
  - http: {method: GET, path: "/t/{op}"}
`)
	if _, stderr, code := cli(t, g, "deploy", path); code != 0 {
		t.Fatalf("deploy with the right sha256: exit %d %s", code, stderr)
	}
	if r := do(t, "GET", g.URL+"/t/info", nil); r.Status != 200 {
		t.Fatalf("a deploy with the right sha256 does not serve: %d", r.Status)
	}
}

// A deploy of the current version's manifest and binary changes nothing; the same manifest
// over a changed binary is a new version.
func TestRedeployOfTheSameBinaryIsUnchanged(t *testing.T) {
	g := startGateway(t, "")
	bin, err := os.ReadFile(bins.testfn)
	if err != nil {
		t.Fatal(err)
	}
	handler := filepath.Join(t.TempDir(), "testfn")
	if err := os.WriteFile(handler, bin, 0o700); err != nil {
		t.Fatal(err)
	}
	path := writeManifest(t, `
name: t
handler: `+handler+`
triggers:
  - http: {method: GET, path: "/t/{op}"}
`)
	deploy := func(want string) {
		t.Helper()
		stdout, stderr, code := cli(t, g, "deploy", path)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Fatalf("deploy: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
		}
	}
	deploy("deployed t version 1")
	deploy("t unchanged at version 1")
	// One byte more after the program: the same program, another binary.
	if err := os.WriteFile(handler, append(bin, 0), 0o700); err != nil {
		t.Fatal(err)
	}
	deploy("deployed t version 2")
}

// The admin API is /admin and what is below it: a function route that only starts with the
// same letters, such as /adminpanel, is the function's, with no admin token asked.
func TestAdminPrefixIsASegment(t *testing.T) {
	g := startGateway(t, "", "--admin-token", "s3cret-token", "--manifests", writeManifest(t, `
name: hello
handler: {{hello}}
triggers:
  - http: {method: GET, path: "/adminpanel/{name}"}
`))
	if r := do(t, "GET", g.URL+"/adminpanel/ada", nil); r.Status != 200 || !strings.Contains(string(r.Body), "hello, ada") {
		t.Fatalf("GET /adminpanel/ada = %d %s, want the function's 200", r.Status, r.Body)
	}
	for _, path := range []string{"/admin", "/admin/", "/admin/v1/functions", "/ADMIN/v1/functions"} {
		if r := do(t, "GET", g.URL+path, nil); r.Status != 401 {
			t.Errorf("GET %s without a token = %d %s, want 401", path, r.Status, r.Body)
		}
	}
	if r := do(t, "GET", g.URL+"/admin/v1/functions", nil, "Authorization", "Bearer s3cret-token"); r.Status != 200 {
		t.Errorf("GET /admin/v1/functions with the token = %d %s, want 200", r.Status, r.Body)
	}
}
