package e2e

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

const testfnManifest = `
name: t
handler: {{testfn}}
timeout: 2s
env: {VERSION: "1", FIXED_FILE: "/nonexistent"}
triggers:
  - http: {method: ANY, path: "/t/{op}"}
---
name: hello
handler: {{hello}}
triggers:
  - http: {method: GET, path: "/hello/{name}"}
`

func TestHTTPRoutesParamsAndQuery(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest))

	r := do(t, "GET", g.URL+"/hello/ada?greeting=hi", nil)
	if r.Status != 200 || string(r.Body) != `{"message":"hi, ada"}` {
		t.Fatalf("GET /hello/ada = %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	if len(r.Header.Get("X-Request-ID")) != 32 {
		t.Errorf("X-Request-ID %q, want a generated 128-bit hex ID", r.Header.Get("X-Request-ID"))
	}

	var info struct {
		Params map[string]string
		Query  map[string][]string
		Source string
	}
	r = do(t, "GET", g.URL+"/t/info?x=1&x=2&y=%C3%A9", nil, "X-Request-ID", "my-request-1")
	r.JSON(t, &info)
	if info.Params["op"] != "info" || strings.Join(info.Query["x"], ",") != "1,2" || info.Query["y"][0] != "é" || info.Source != "http" {
		t.Fatalf("event as the function saw it: %+v", info)
	}
	if r.Header.Get("X-Request-ID") != "my-request-1" {
		t.Errorf("the caller's X-Request-ID was not kept: %q", r.Header.Get("X-Request-ID"))
	}

	var e struct {
		Error struct{ Code, Message, RequestID string }
	}
	r = do(t, "GET", g.URL+"/nowhere", nil)
	r.JSON(t, &e)
	if r.Status != 404 || e.Error.Code != "not_found" || e.Error.RequestID == "" {
		t.Fatalf("unknown route = %d %s", r.Status, r.Body)
	}
	r = do(t, "POST", g.URL+"/hello/ada", nil)
	r.JSON(t, &e)
	if r.Status != 405 || r.Header.Get("Allow") != "GET, HEAD" || e.Error.Code != "method_not_allowed" {
		t.Fatalf("wrong method = %d %s (Allow %q)", r.Status, r.Body, r.Header.Get("Allow"))
	}
}

func TestHTTPBodyLimit(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest))

	body := make([]byte, 3<<20)
	rand.Read(body)
	r := do(t, "POST", g.URL+"/t/echo", body)
	if r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Fatalf("3 MiB round trip: status %d, %d bytes back, equal=%v", r.Status, len(r.Body), bytes.Equal(r.Body, body))
	}
	r = do(t, "POST", g.URL+"/t/echo", make([]byte, 5<<20))
	if r.Status != 413 || !strings.Contains(string(r.Body), `"too_large"`) {
		t.Fatalf("5 MiB body = %d %s, want 413", r.Status, r.Body)
	}
	// Chunked bodies are counted as they stream.
	req, _ := http.NewRequest("POST", g.URL+"/t/echo", struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 5<<20))})
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("5 MiB chunked body = %d, want 413", resp.StatusCode)
	}
	// The gateway still serves afterwards.
	if r := do(t, "GET", g.URL+"/hello/again", nil); r.Status != 200 {
		t.Fatalf("after 413: %d", r.Status)
	}
}

func TestHTTPTimeoutPanicAndErrors(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest))

	start := time.Now()
	r := do(t, "GET", g.URL+"/t/sleep?ms=10000", nil)
	if r.Status != 504 || !strings.Contains(string(r.Body), "function_timeout") {
		t.Fatalf("sleep past timeout = %d %s, want 504", r.Status, r.Body)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("504 took %s; the timeout is 2s", el)
	}

	r = do(t, "GET", g.URL+"/t/panic", nil)
	if r.Status != 500 || strings.Contains(string(r.Body), "secret") || strings.Contains(string(r.Body), "panic") {
		t.Fatalf("panic = %d %s: want 500 with no internals", r.Status, r.Body)
	}
	r = do(t, "GET", g.URL+"/t/fail", nil)
	if r.Status != 500 || strings.Contains(string(r.Body), "hunter2") {
		t.Fatalf("plain error = %d %s: want 500 with no internals", r.Status, r.Body)
	}
	r = do(t, "GET", g.URL+"/t/status?code=409", nil)
	if r.Status != 409 || !strings.Contains(string(r.Body), "chosen status 409") {
		t.Fatalf("fn.Errorf(409) = %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", g.URL+"/t/info", nil); r.Status != 200 {
		t.Fatalf("the call after a panic = %d %s", r.Status, r.Body)
	}
	// Response headers that would split the response are dropped; others pass.
	r = do(t, "GET", g.URL+"/t/headers?X-Good=yes&X-Bad=a%0d%0aSet-Cookie:%20x=1", nil)
	if r.Header.Get("X-Good") != "yes" || r.Header.Get("Set-Cookie") != "" || r.Header.Get("X-Bad") != "" {
		t.Fatalf("headers = %v", r.Header)
	}
}

func TestHTTPPluginCrashIsRestarted(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest))

	r := do(t, "GET", g.URL+"/t/exit", nil)
	if r.Status != 502 || !strings.Contains(string(r.Body), "function_crashed") {
		t.Fatalf("plugin exit mid-call = %d %s, want 502", r.Status, r.Body)
	}
	start := time.Now()
	testkit.Eventually(t, 5*time.Second, "the plugin to serve again", func() bool {
		r, err := tryDo("GET", g.URL+"/t/info", nil)
		return err == nil && r.Status == 200
	})
	t.Logf("serving again %s after the crash", time.Since(start).Round(time.Millisecond))
	var info struct{ Restarts int }
	g.admin(t, "GET", "/admin/v1/functions/t", nil).JSON(t, &info)
	if info.Restarts != 1 {
		t.Fatalf("restarts = %d, want 1", info.Restarts)
	}
}

func TestHTTPConcurrencyLimit(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: t
handler: {{testfn}}
timeout: 1s
concurrency: 1
triggers:
  - http: {method: GET, path: "/t/{op}"}
`))
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := tryDo("GET", g.URL+"/t/sleep?ms=5000", nil)
			if err != nil {
				t.Error(err)
				return
			}
			if r.Status == 503 && r.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	// One slot, a 1s timeout, four callers: at most two ever run (504), the others wait their
	// timeout for the slot and get 503.
	if counts[503] < 2 || counts[504] < 1 || counts[503]+counts[504] != 4 {
		t.Fatalf("statuses = %v, want at least two 503 and the rest 504", counts)
	}
}

// A plugin's environment is exactly the manifest's env and the Go runtime settings edgefn
// serve gives every plugin (docs/runtime.md); `edgefn get` shows those settings.
func TestHTTPEnvironmentIsOnlyTheManifests(t *testing.T) {
	t.Setenv("EDGEFN_E2E_GATEWAY_SECRET", "do-not-leak")
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest), "--gogc", "300", "--plugin-gomaxprocs", "1")
	env := pluginEnv(t, g)
	want := []string{"FIXED_FILE=/nonexistent", "GOGC=300", "GOMAXPROCS=1", "VERSION=1"}
	if !slices.Equal(env, want) {
		t.Fatalf("the plugin's environment is\n%s\nwant exactly\n%s", strings.Join(env, "\n"), strings.Join(want, "\n"))
	}
	var info struct{ Procs int }
	do(t, "GET", g.URL+"/t/info", nil).JSON(t, &info)
	if info.Procs != 1 {
		t.Fatalf("the plugin runs with GOMAXPROCS %d, want 1", info.Procs)
	}
	if out := mustCLI(t, g, "get", "t"); !strings.Contains(out, "runtime: GOGC=300 GOMAXPROCS=1\n") {
		t.Fatalf("edgefn get t does not show the runtime settings:\n%s", out)
	}
}

// A manifest's env overrides the Go runtime settings the gateway gives its plugins.
func TestManifestEnvOverridesRuntimeSettings(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: t
handler: {{testfn}}
env: {GOGC: "off", GOMAXPROCS: "2"}
triggers:
  - http: {method: ANY, path: "/t/{op}"}
`))
	env := pluginEnv(t, g)
	if want := []string{"GOGC=off", "GOMAXPROCS=2"}; !slices.Equal(env, want) {
		t.Fatalf("the plugin's environment is %q, want %q", env, want)
	}
	if out := mustCLI(t, g, "get", "t"); !strings.Contains(out, "runtime: GOGC=off GOMAXPROCS=2\n") {
		t.Fatalf("edgefn get t does not show the manifest's settings:\n%s", out)
	}
}

// pluginEnv is the testfn plugin's environment, sorted, less the variables of go-plugin's
// handshake, which every plugin gets (docs/runtime.md).
func pluginEnv(t *testing.T, g *gateway) []string {
	t.Helper()
	var env []string
	do(t, "GET", g.URL+"/t/env", nil).JSON(t, &env)
	handshake := []string{"EDGEFN_PLUGIN", "PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT", "PLUGIN_PROTOCOL_VERSIONS"}
	tmpdir := false
	env = slices.DeleteFunc(env, func(kv string) bool {
		name, value, _ := strings.Cut(kv, "=")
		if name == "TMPDIR" {
			// The sandbox's private working folder (docs/security.md).
			tmpdir = strings.HasPrefix(value, filepath.Join(os.TempDir(), "edgefn-run-"))
			return tmpdir
		}
		return slices.Contains(handshake, name)
	})
	if !tmpdir {
		t.Errorf("the plugin's TMPDIR is not its working folder: %q", env)
	}
	slices.Sort(env)
	return env
}
