package e2e

import (
	"encoding/json"
	"net"
	"path/filepath"
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
		r, err := tryDo("GET", g.URL+"/admin/v1/functions/t", nil, "Authorization", "Bearer "+g.AdminToken)
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
