package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

func TestSIGTERMFinishesInFlightWork(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest))
	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := tryDo("GET", g.URL+"/t/wait?ms=1500", nil)
		done <- result{r, err}
	}()
	// Wait until the call is in flight inside the function.
	testkit.Eventually(t, 5*time.Second, "the call to be in flight", func() bool {
		var info struct{ Inflight int }
		r, err := tryDo("GET", g.URL+"/admin/v1/functions/t", nil)
		return err == nil && json.Unmarshal(r.Body, &info) == nil && info.Inflight == 1
	})
	g.stop()
	res := <-done
	if res.err != nil || res.r.Status != 200 || string(res.r.Body) != "waited" {
		t.Fatalf("in-flight call across SIGTERM: %v %d %s", res.err, res.r.Status, res.r.Body)
	}
	if err := g.wait(time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if _, err := net.DialTimeout("tcp", g.Addr, time.Second); err == nil {
		t.Fatal("the gateway still accepts connections after it stopped")
	}
	if !strings.Contains(g.logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", g.logs.String())
	}
}

func TestReadyz(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest))
	r := do(t, "GET", g.URL+"/readyz", nil)
	if r.Status != 200 {
		t.Fatalf("/readyz = %d %s", r.Status, r.Body)
	}
	// While the only instance restarts after a crash the function is not ready; then it is.
	do(t, "GET", g.URL+"/t/exit", nil)
	testkit.Eventually(t, 5*time.Second, "/readyz to report the restarting function", func() bool {
		r, err := tryDo("GET", g.URL+"/readyz", nil)
		return err == nil && r.Status == 503 && strings.Contains(string(r.Body), "function t: no ready instance")
	})
	testkit.Eventually(t, 5*time.Second, "/readyz to be 200 again", func() bool {
		r, err := tryDo("GET", g.URL+"/readyz", nil)
		return err == nil && r.Status == 200
	})
}

func TestDeployBuildsFromSource(t *testing.T) {
	g := startGateway(t, "")
	path := writeManifest(t, `
name: hello-src
build: `+filepath.Join(bins.repoDir, "functions", "hello")+`
triggers:
  - http: {method: GET, path: "/src/{name}"}
`)
	out := mustCLI(t, g, "deploy", path)
	if !strings.Contains(out, "deployed hello-src version 1") {
		t.Fatalf("deploy said %q", out)
	}
	if r := do(t, "GET", g.URL+"/src/ada", nil); r.Status != 200 || string(r.Body) != `{"message":"hello, ada"}` {
		t.Fatalf("built function: %d %s", r.Status, r.Body)
	}
	out = mustCLI(t, g, "invoke", "hello-src")
	if !strings.Contains(out, "hello, world") {
		t.Fatalf("invoke said %q", out)
	}
	out = mustCLI(t, g, "get", "hello-src")
	if !strings.Contains(out, "http GET /src/{name}") {
		t.Fatalf("get said %q", out)
	}
}

// While it runs plugins the gateway leaves them their share of the processors (each plugin
// takes half by default), and it takes them all back when the last function is deleted.
func TestGatewayProcessorsFollowThePlugins(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		t.Skip("GOMAXPROCS is set in the environment, which the gateway inherits and keeps")
	}
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: hello
handler: {{hello}}
triggers:
  - http: {method: GET, path: "/hello/{name}"}
`))
	type setting struct {
		Msg        string `json:"msg"`
		GOMAXPROCS int    `json:"gomaxprocs"`
		Plugins    bool   `json:"plugins"`
	}
	settings := func() []setting {
		var out []setting
		for _, line := range strings.Split(g.logs.String(), "\n") {
			var s setting
			if json.Unmarshal([]byte(line), &s) == nil && s.Msg == "gateway processors" {
				out = append(out, s)
			}
		}
		return out
	}
	// The log reaches the test through a pipe: wait for the line rather than assume it is in.
	testkit.Eventually(t, 5*time.Second, "the processor setting for plugins", func() bool { return len(settings()) > 0 })
	if s := settings(); len(s) != 1 || !s[0].Plugins {
		t.Fatalf("after the start-up deploy: processor settings %+v, want one with plugins\n%s", s, g.logs.String())
	}
	if r := do(t, "DELETE", g.URL+"/admin/v1/functions/hello", nil); r.Status != 204 && r.Status != 200 {
		t.Fatalf("DELETE hello = %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 5*time.Second, "the gateway to take every processor back", func() bool { return len(settings()) == 2 })
	s := settings()
	all, shared := s[1].GOMAXPROCS, s[0].GOMAXPROCS
	if s[1].Plugins || all < 1 || shared != max(1, all-all/2) {
		t.Fatalf("processor settings %+v: want %d of %d with plugins, then all %d", s, max(1, all-all/2), all, all)
	}
}

// The client commands start with their heap advised onto huge pages where the system gives
// them on request; the gateway never has them, since huge pages in a serving heap lengthened
// its latency tail (internal/startheap). Both are read from /proc/PID/smaps: the VmFlags of a
// mapping say "hg" once it is advised.
func TestOnlyClientCommandsStartOnHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !strings.Contains(string(mode), "[madvise]") {
		t.Skipf("transparent huge pages are not given on request here (%q, %v)", mode, err)
	}
	if os.Getenv("EDGEFN_STARTUP_HUGEPAGES") == "0" {
		t.Skip("EDGEFN_STARTUP_HUGEPAGES=0 in this environment, which both processes inherit")
	}
	advised := func(pid int) bool {
		smaps, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps"))
		if err != nil {
			t.Fatalf("smaps of %d: %v", pid, err)
		}
		for _, line := range strings.Split(string(smaps), "\n") {
			if strings.HasPrefix(line, "VmFlags:") && slices.Contains(strings.Fields(line), "hg") {
				return true
			}
		}
		return false
	}
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: hello
handler: {{hello}}
triggers:
  - http: {method: GET, path: "/hello/{name}"}
`))
	if advised(g.cmd.Process.Pid) {
		t.Fatal("edgefn serve runs with its heap advised onto huge pages")
	}
	// A client command that stays up long enough to be looked at.
	follow := exec.Command(bins.edgefn, "logs", "hello", "--follow", "--server", g.URL)
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = follow.Process.Kill(); _ = follow.Wait() })
	testkit.Eventually(t, 5*time.Second, "edgefn logs --follow to start with its heap on huge pages",
		func() bool { return advised(follow.Process.Pid) })
}
