package e2e

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"mime/multipart"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/gateway/auth/authtest"
)

const secManifest = `
name: t
handler: {{testfn}}
env: {API_KEY: "%s"}
triggers:
  - http: {method: GET, path: "/t/{op}"}
  - http: {method: POST, path: "/t/{op}"}
  - http: {method: GET, path: "/secure/{op}", auth: jwt}
`

// errorCode decodes the gateway's JSON error body.
func errorCode(t *testing.T, r response) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message, RequestID string }
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Code == "" || body.Error.RequestID == "" {
		t.Fatalf("%d %q is not the gateway's JSON error: %v", r.Status, r.Body, err)
	}
	return body.Error.Code
}

func TestCORS(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, strings.Replace(secManifest, "%s", "k", 1)),
		"--admin-token", "adm", "--cors-origins", "https://app.example,https://other.example", "--cors-max-age", "1m")

	// The preflight is answered by the gateway: the function has no OPTIONS route (it would
	// answer 405).
	pre := do(t, "OPTIONS", g.URL+"/t/echo", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type, authorization")
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "POST") || pre.Header.Get("Access-Control-Max-Age") != "60" {
		t.Fatalf("preflight: %d %v", pre.Status, pre.Header)
	}
	if r := do(t, "OPTIONS", g.URL+"/t/echo", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"); r.Status != 403 ||
		r.Header.Get("Access-Control-Allow-Origin") != "" || errorCode(t, r) != "forbidden" {
		t.Fatalf("preflight from an origin not listed: %d %v %s", r.Status, r.Header, r.Body)
	}
	r := do(t, "POST", g.URL+"/t/echo", []byte("hi"), "Origin", "https://other.example")
	if r.Status != 200 || string(r.Body) != "hi" || r.Header.Get("Access-Control-Allow-Origin") != "https://other.example" ||
		!strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Fatalf("call from a listed origin: %d %v", r.Status, r.Header)
	}
	if r := do(t, "POST", g.URL+"/t/echo", []byte("hi"), "Origin", "https://evil.example"); r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("call from another origin: %d %v (the function runs; the browser hides the answer)", r.Status, r.Header)
	}
	// The async replies are for the same pages.
	if r := do(t, "GET", g.URL+"/requests/0123456789abcdef0123456789abcdef", nil, "Origin", "https://app.example"); r.Status != 404 ||
		r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("async reply from a listed origin: %d %v", r.Status, r.Header)
	}
	// Not the admin API: it refuses a page of another origin, even one CORS lists.
	for _, m := range []string{"OPTIONS", "GET"} {
		r := do(t, m, g.URL+"/admin/v1/functions", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "GET")
		if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Status != 403 {
			t.Fatalf("%s on the admin API: %d %v, want 403 without CORS", m, r.Status, r.Header)
		}
	}
}

func TestRateLimits(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, strings.Replace(secManifest, "%s", "k", 1)),
		"--rate-limit", "3/h", "--ws-connect-rate", "2/h", "--trusted-proxies", "127.0.0.0/8", "--admin-via-proxy")

	for i := range 3 {
		if r := do(t, "GET", g.URL+"/t/info", nil); r.Status != 200 {
			t.Fatalf("call %d within the burst: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := do(t, "GET", g.URL+"/t/info", nil)
	if r.Status != 429 || errorCode(t, r) != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("call past the limit: %d %v %s, want 429 rate_limited with Retry-After", r.Status, r.Header, r.Body)
	}
	// Health, readiness and the admin API are not function calls.
	for _, p := range []string{"/healthz", "/readyz", "/admin/v1/functions"} {
		if r := do(t, "GET", g.URL+p, nil, "Authorization", "Bearer "+g.AdminToken); r.Status != 200 {
			t.Fatalf("%s while rate limited: %d", p, r.Status)
		}
	}
	// The peer is a trusted proxy, so X-Forwarded-For names the client: another client has
	// its own bucket, and a client cannot escape its own by prepending a forged hop.
	if r := do(t, "GET", g.URL+"/t/info", nil, "X-Forwarded-For", "203.0.113.7"); r.Status != 200 {
		t.Fatalf("another forwarded client: %d %s", r.Status, r.Body)
	}
	for range 2 {
		do(t, "GET", g.URL+"/t/info", nil, "X-Forwarded-For", "203.0.113.7")
	}
	if r := do(t, "GET", g.URL+"/t/info", nil, "X-Forwarded-For", "198.51.100.1, 203.0.113.7"); r.Status != 429 {
		t.Fatalf("forged hop in front of a limited client: %d, want 429", r.Status)
	}

	// WebSocket connects: two, then 429 on the handshake.
	for range 2 {
		dialWS(t, wsURL(g, ""), nil)
	}
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(g, ""), nil)
	if err == nil || resp == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("third connect: %v (HTTP %d), want 429 with Retry-After", err, status)
	}
}

// deployForm is a multipart deploy upload of manifest and binary.
func deployForm(t *testing.T, manifest, binary string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	mf, _ := w.CreateFormFile("manifest", "fn.yaml")
	mf.Write([]byte(manifest))
	if binary != "" {
		b, err := os.ReadFile(binary)
		if err != nil {
			t.Fatal(err)
		}
		bf, _ := w.CreateFormFile("binary", "handler")
		bf.Write(b)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

func TestDataDirAndPathTraversal(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	g := startGateway(t, data, "--admin-token", "adm")
	mustCLI(t, g, "deploy", "--token", "adm", versionedManifest(t, 1))
	if v := servedVersion(t, g); v != "1" {
		t.Fatalf("served version %q", v)
	}

	// Names that try to leave the data dir, in the path and in the manifest.
	manifest := func(name string) string {
		return "name: " + name + "\nhandler: ./handler\ntriggers:\n  - http: {method: GET, path: \"/x\"}\n"
	}
	ct, body := deployForm(t, manifest("x"), bins.testfn)
	for _, path := range []string{"..%2f..%2fx", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "x%00y", "..%5c..%5cx"} {
		r := do(t, "PUT", g.URL+"/admin/v1/functions/"+path, body, "Authorization", "Bearer adm", "Content-Type", ct)
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("PUT /admin/v1/functions/%s: %d %s, want a 4xx", path, r.Status, r.Body)
		}
		for _, m := range []string{"DELETE", "GET"} {
			if r := do(t, m, g.URL+"/admin/v1/functions/"+path, nil, "Authorization", "Bearer adm"); r.Status != 404 {
				t.Errorf("%s /admin/v1/functions/%s: %d %s, want 404", m, path, r.Status, r.Body)
			}
		}
		if r := do(t, "POST", g.URL+"/admin/v1/functions/"+path+"/rollback", nil, "Authorization", "Bearer adm"); r.Status != 404 {
			t.Errorf("rollback of %s: %d %s, want 404", path, r.Status, r.Body)
		}
	}
	for _, name := range []string{"../x", "../../etc", "a/b", ".."} {
		ct, body := deployForm(t, manifest(`"`+name+`"`), bins.testfn)
		r := do(t, "PUT", g.URL+"/admin/v1/functions/x", body, "Authorization", "Bearer adm", "Content-Type", ct)
		if r.Status != 400 || errorCode(t, r) != "invalid_manifest" {
			t.Errorf("manifest name %q: %d %s, want 400 invalid_manifest", name, r.Status, r.Body)
		}
	}
	// Nothing was written next to the data dir, and the function still serves.
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "data" {
		t.Errorf("the data dir's parent holds %v, want only data", entries)
	}
	if v := servedVersion(t, g); v != "1" {
		t.Fatalf("served version after the attempts %q", v)
	}

	// Every file in the data dir is private: folders 0700, files 0600; a binary is the
	// gateway's, executable by its function's group only (docs/security.md): 0750.
	rawUID, err := os.ReadFile(filepath.Join(data, "functions", "t", "uid"))
	if err != nil {
		t.Fatal(err)
	}
	fnGID, _ := strconv.Atoi(strings.TrimSpace(string(rawUID)))
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()
		switch {
		case d.IsDir() && mode != 0o700:
			t.Errorf("folder %s: mode %o, want 700", path, mode)
		case !d.IsDir() && d.Name() == "handler":
			st := info.Sys().(*syscall.Stat_t)
			if mode != 0o750 || int(st.Uid) != os.Geteuid() || int(st.Gid) != fnGID {
				t.Errorf("binary %s: mode %o, owner %d:%d; want 750, %d:%d", path, mode, st.Uid, st.Gid, os.Geteuid(), fnGID)
			}
		case !d.IsDir() && d.Name() != "handler" && mode != 0o600:
			t.Errorf("file %s: mode %o, want 600", path, mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecretsAreNotLogged(t *testing.T) {
	const (
		adminToken = "adm-token-5f0c2e9b7d"
		jwtSecret  = "jwt-secret-of-32-bytes-9a8b7c6d5e"
		envSecret  = "env-value-3c4d5e6f7a8b"
	)
	g := startGateway(t, "", "--manifests", writeManifest(t, strings.Replace(secManifest, "%s", envSecret, 1)),
		"--admin-token", adminToken, "--jwt-secret", jwtSecret, "--log-level", "debug")
	good := authtest.HS256(t, jwtSecret, map[string]any{"sub": "alice"})
	bad := authtest.HS256(t, "another-secret-of-32-bytes-000000", map[string]any{"sub": "mallory"})
	expired := authtest.ExpiredHS256(t, jwtSecret, map[string]any{"sub": "eve"})

	// Calls that succeed and fail, with each secret where a careless log would pick it up.
	do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+good)
	do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+bad)
	do(t, "GET", g.URL+"/secure/info?token="+expired, nil, "Authorization", "Bearer "+expired)
	do(t, "GET", g.URL+"/t/status?code=500&token="+good, nil)
	do(t, "GET", g.URL+"/t/nope?token="+good, nil)
	do(t, "GET", g.URL+"/admin/v1/functions", nil, "Authorization", "Bearer "+adminToken)
	do(t, "GET", g.URL+"/admin/v1/functions", nil, "Authorization", "Bearer "+adminToken+"x")
	do(t, "POST", g.URL+"/admin/v1/functions/t/invoke", nil, "Authorization", "Bearer "+adminToken)
	mustCLI(t, g, "get", "t", "--token", adminToken)
	if r := do(t, "GET", g.URL+"/t/env", nil); r.Status != 200 || !strings.Contains(string(r.Body), envSecret) {
		t.Fatalf("the function did not get its env: %d %s", r.Status, r.Body) // it does; it must not be logged
	}
	c := dialWS(t, wsURL(g, "token="+good), nil)
	c.mustOK(map[string]any{"op": "auth", "token": good})
	c.refused(map[string]any{"op": "auth", "token": bad}, "unauthorized")
	for _, tok := range []string{bad, expired} {
		if code := dialWS(t, wsURL(g, "token="+tok), nil).closed(10 * time.Second); code != 4001 {
			t.Fatalf("bad token on /ws: close %d, want 4001", code)
		}
	}
	// The gateway logs something at debug level: the test looks at a real log.
	g.stop()
	logs := g.logs.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) && !strings.Contains(logs, `"level":"INFO"`) {
		t.Fatalf("no log lines captured:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"admin token": adminToken, "jwt secret": jwtSecret, "env value": envSecret,
		"valid JWT": good, "JWT with a bad signature": bad, "expired JWT": expired,
		"JWT signature": good[strings.LastIndexByte(good, '.')+1:],
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the gateway's log holds the %s:\n%s", name, logs)
		}
	}
}
