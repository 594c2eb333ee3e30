package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// adminHost sends a request to g's admin API with the admin token, the Host host (the URL's
// when empty) and the header pairs.
func adminHost(t *testing.T, g *gateway, method, path, host string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, g.AdminURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Authorization", "Bearer "+g.AdminToken)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// wantAdminError checks that r is the admin API's JSON error with the status and code, its
// message holding message.
func wantAdminError(t *testing.T, what string, r response, status int, code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message, RequestID string }
	}
	if r.Status != status || json.Unmarshal(r.Body, &e) != nil || e.Error.Code != code ||
		!strings.Contains(e.Error.Message, message) || e.Error.RequestID == "" {
		t.Errorf("%s: %d %s, want %d %s with %q", what, r.Status, r.Body, status, code, message)
	}
}

// auditLines are the gateway's audit log lines that hold every one of the fragments.
// The gateway writes an audit line as it answers, so it may reach the test's pipe after the
// answer: it waits (up to 10 s) for at least `least` lines to match, then returns those there are.
func auditLines(t testing.TB, g *gateway, least int, fragments ...string) []string {
	t.Helper()
	var out []string
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("%d audit lines with %q", least, fragments), func() bool {
		out = matchingAuditLines(g, fragments...)
		return len(out) >= least
	})
	return out
}

func matchingAuditLines(g *gateway, fragments ...string) []string {
	var out []string
	for _, line := range strings.Split(g.logs.String(), "\n") {
		ok := strings.Contains(line, `"msg":"admin audit"`)
		for _, f := range fragments {
			ok = ok && strings.Contains(line, f)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// With no --admin-token, serve generates one into a 0600 file under --data-dir, and the CLI
// run where `make run` is run (its default --data-dir is .edgefn) uses it with no flag. A
// restart keeps it. A deploy is written to the audit log.
func TestGeneratedAdminTokenServesTheLocalCLI(t *testing.T) {
	work := t.TempDir()
	g := startGateway(t, filepath.Join(work, ".edgefn"))
	path := filepath.Join(work, ".edgefn", "admin-token")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", st, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(g.AdminToken) {
		t.Fatalf("generated token %q, want 64 hex digits", g.AdminToken)
	}
	// No token: refused, and the CLI says where it looked.
	wantAdminError(t, "no token", do(t, "GET", g.URL+"/admin/v1/functions", nil), 401, "unauthorized", "admin token required")
	edgefn := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bins.edgefn, append(args, "--server", g.URL)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "EDGEFN_TOKEN=", "EDGEFN_DATA_DIR=")
		return runCmd(t, cmd)
	}
	if out, errOut, code := edgefn("deploy", versionedManifest(t, 1)); code != 0 || !strings.Contains(out, "deployed t version 1") {
		t.Fatalf("edgefn deploy with no token flag: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := edgefn("get", "t"); code != 0 || !strings.Contains(out, "t") {
		t.Fatalf("edgefn get: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := edgefn("list"); code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("edgefn list: exit %d\n%s%s", code, out, errOut)
	}
	// Elsewhere, with no token file, the CLI says why it was refused.
	_, errOut, code := edgefn("list", "--data-dir", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "admin token required (no --token given, and no admin-token file in --data-dir") {
		t.Fatalf("edgefn list without a token file: exit %d %s", code, errOut)
	}

	if lines := auditLines(t, g, 1, `"action":"deploy"`, `"target":"t"`, `"from":"127.0.0.1"`, `"who":"sha256:`, `"status":200`); len(lines) != 1 {
		t.Fatalf("%d audit lines of the deploy, want 1:\n%s", len(lines), g.logs.String())
	}
	if lines := auditLines(t, g, 2, `"action":"denied"`, `"status":401`); len(lines) < 2 {
		t.Fatalf("%d audit lines of refused requests, want at least 2:\n%s", len(lines), g.logs.String())
	}
	if strings.Contains(g.logs.String(), g.AdminToken) {
		t.Fatal("the admin token is in the gateway's log")
	}

	g.stop()
	g2 := restartGateway(t, g)
	if g2.AdminToken != g.AdminToken {
		t.Fatal("the restart generated another token")
	}
	if out, errOut, code := edgefn("get", "t"); code != 0 {
		t.Fatalf("edgefn get after the restart: exit %d\n%s%s", code, out, errOut)
	}
}

// The admin API refuses (403), even with the token, a request through a proxy hop, for a
// foreign Host (DNS rebinding) or from a browser page of another site; guesses of the token
// are limited per client.
func TestAdminRefusesProxiesForeignHostsAndOtherSites(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, testfnManifest))
	port := g.Addr[strings.LastIndex(g.Addr, ":"):]
	for _, c := range []struct {
		name, host string
		headers    []string
		message    string
	}{
		{"X-Forwarded-For", "", []string{"X-Forwarded-For", "203.0.113.77"}, "through a proxy"},
		{"Forwarded", "", []string{"Forwarded", "for=203.0.113.77;proto=https"}, "through a proxy"},
		{"X-Real-IP", "", []string{"X-Real-IP", "203.0.113.77"}, "through a proxy"},
		{"a foreign Host and its Origin", "rebind.example" + port, []string{"Origin", "http://rebind.example" + port}, `host "rebind.example` + port + `"`},
		{"a cross-site Origin", "", []string{"Origin", "https://evil.example"}, "from another site"},
		{"Sec-Fetch-Site: cross-site", "", []string{"Sec-Fetch-Site", "cross-site"}, "from another site"},
	} {
		// A text/plain POST needs no CORS preflight: the browser sends it as it is.
		r := adminHost(t, g, "POST", "/admin/v1/functions/t/invoke", c.host, []byte("hi"), append(c.headers, "Content-Type", "text/plain")...)
		wantAdminError(t, c.name, r, 403, "forbidden", c.message)
	}
	if r := g.admin(t, "GET", "/admin/v1/functions/t", nil); !strings.Contains(string(r.Body), `"invocations":0`) {
		t.Fatalf("a refused invoke ran the function: %s", r.Body)
	}
	// What an operator sends passes: localhost on another port (a container's mapped port),
	// an IP literal, the same origin.
	for _, host := range []string{"localhost:8081", "127.0.0.1" + port, "[::1]:9"} {
		if r := adminHost(t, g, "GET", "/admin/v1/version", host, nil); r.Status != 200 {
			t.Errorf("Host %s: %d %s, want 200", host, r.Status, r.Body)
		}
	}
	if r := adminHost(t, g, "GET", "/admin/v1/version", "", nil, "Origin", g.URL, "Sec-Fetch-Site", "same-origin"); r.Status != 200 {
		t.Errorf("same origin: %d %s, want 200", r.Status, r.Body)
	}
	if n := len(auditLines(t, g, 6, `"action":"denied"`, `"status":403`)); n != 6 {
		t.Errorf("%d audit lines of the 6 refusals:\n%s", n, g.logs.String())
	}

	// Ten wrong tokens, then even the right one is refused for a while.
	for i := range 10 {
		r := do(t, "GET", g.URL+"/admin/v1/version", nil, "Authorization", "Bearer guess"+string(rune('0'+i)))
		wantAdminError(t, "a wrong token", r, 401, "unauthorized", "admin token required")
	}
	r := g.admin(t, "GET", "/admin/v1/version", nil)
	wantAdminError(t, "the right token after 10 wrong ones", r, 429, "rate_limited", "too many failed admin authentications")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// The peer is a trusted proxy: the admin API refuses it unless --admin-via-proxy says so,
// and then the public name needs --admin-hosts.
func TestAdminBehindATrustedProxy(t *testing.T) {
	g := startGateway(t, "", "--trusted-proxies", "127.0.0.1")
	wantAdminError(t, "from a trusted proxy", g.admin(t, "GET", "/admin/v1/version", nil), 403, "forbidden", "through a proxy")
	wantAdminError(t, "through a trusted proxy", g.admin(t, "GET", "/admin/v1/version", nil, "X-Forwarded-For", "203.0.113.77"),
		403, "forbidden", "through a proxy")

	g = startGateway(t, "", "--trusted-proxies", "127.0.0.1", "--admin-via-proxy", "--admin-hosts", "edge.example")
	if r := adminHost(t, g, "GET", "/admin/v1/version", "edge.example", nil, "X-Forwarded-For", "203.0.113.77"); r.Status != 200 {
		t.Fatalf("with --admin-via-proxy and --admin-hosts: %d %s, want 200", r.Status, r.Body)
	}
	wantAdminError(t, "another name", adminHost(t, g, "GET", "/admin/v1/version", "other.example", nil), 403, "forbidden", `host "other.example"`)
	if lines := auditLines(t, g, 1); len(lines) != 1 || !strings.Contains(lines[0], `"from":"127.0.0.1"`) {
		t.Fatalf("audit lines %q, want the one refusal", lines)
	}
}

// With --admin-listen the admin API has a listener of its own, and the function listener has
// no /admin.
func TestAdminListen(t *testing.T) {
	g := startGateway(t, "", "--admin-listen", freeAddr(t), "--manifests", writeManifest(t, `
name: t
handler: {{testfn}}
env: {DEFAULT_OP: echo}
triggers:
  - http: {method: ANY, path: "/t/{op}"}
`))
	if g.AdminURL == g.URL {
		t.Fatal("the harness did not see --admin-listen")
	}
	if r := do(t, "GET", g.URL+"/admin/v1/functions", nil, "Authorization", "Bearer "+g.AdminToken); r.Status != 404 {
		t.Fatalf("/admin on the function listener: %d %s, want 404", r.Status, r.Body)
	}
	if r := do(t, "GET", g.URL+"/t/info", nil); r.Status != 200 {
		t.Fatalf("a function on the function listener: %d %s", r.Status, r.Body)
	}
	if r := g.admin(t, "GET", "/admin/v1/functions/t", nil); r.Status != 200 {
		t.Fatalf("/admin on the admin listener: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", g.AdminURL+"/t/info", nil); r.Status != 404 {
		t.Fatalf("a function route on the admin listener: %d %s, want 404", r.Status, r.Body)
	}
	if out := mustCLI(t, g, "list"); !strings.Contains(out, "t") {
		t.Fatalf("edgefn list against the admin listener: %s", out)
	}
	// An async invoke's reply is at the Location it names, on the admin listener too.
	if out := mustCLI(t, g, "invoke", "t", "--wait", "--data", `{"x":1}`); out != "{\"x\":1}\n" {
		t.Fatalf("edgefn invoke --wait against the admin listener printed %q", out)
	}
}

// Nodes sharing a Redis must share a token: with --redis and none given, serve refuses to
// start, and says why.
func TestRedisNeedsAGivenAdminToken(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(bins.edgefn, "serve", "--listen", freeAddr(t), "--data-dir", data, "--redis", "redis://127.0.0.1:6379/0")
	cmd.Env = append(os.Environ(), "EDGEFN_ADMIN_TOKEN=", "EDGEFN_ADMIN_TOKEN_FILE=")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 ||
		!strings.Contains(string(out), "edgefn: --redis: nodes sharing a Redis must share one admin token; give it with --admin-token-file (or --admin-token)") {
		t.Fatalf("serve --redis without a token: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "admin-token")); err == nil {
		t.Fatal("serve --redis generated a token file")
	}

	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("cluster-token-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, "", "--admin-token-file", file)
	if g.AdminToken != "cluster-token-from-a-file" {
		t.Fatalf("harness read %q", g.AdminToken)
	}
	if r := g.admin(t, "GET", "/admin/v1/version", nil); r.Status != 200 {
		t.Fatalf("with the token of --admin-token-file: %d %s", r.Status, r.Body)
	}
}
