package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/gateway/guard"
	"github.com/edgefn/edgefn/internal/testkit"
)

// adminGet sends GET /admin/v1/version to base with the test token, Host host (the URL's when
// empty) and the header pairs, and returns the status and the error body.
func adminGet(t *testing.T, base, host string, headers ...string) (int, errorDetail) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/admin/v1/version", nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e errorBody
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("answer %d is not JSON: %.300s", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, e.Error
}

// The admin API answers a request with the token only when it does not come through a proxy,
// names a Host it answers for, and is not a browser's request from another site.
func TestAdminGuard(t *testing.T) {
	base, _ := startServer(t, Config{AdminHosts: []string{"Admin.Example"}})
	port := strings.TrimPrefix(base, "http://127.0.0.1")
	for _, c := range []struct {
		name    string
		host    string
		headers []string
		status  int
		message string
	}{
		{"plain", "", nil, 200, ""},
		{"localhost", "localhost" + port, nil, 200, ""},
		{"localhost, another port", "localhost:8081", nil, 200, ""},
		{"an IPv6 literal", "[::1]:9", nil, 200, ""},
		{"an admin host, in another case", "admin.example" + port, nil, 200, ""},
		{"an admin host with a final dot", "admin.example.", nil, 200, ""},
		{"a foreign host", "rebind.example" + port, nil, 403, `host "rebind.example`},
		{"a subdomain of localhost", "evil.localhost", nil, 403, `host "evil.localhost"`},
		{"X-Forwarded-For", "", []string{"X-Forwarded-For", "203.0.113.77"}, 403, "through a proxy"},
		{"X-Forwarded-Host", "", []string{"X-Forwarded-Host", "a.example"}, 403, "through a proxy"},
		{"Forwarded", "", []string{"Forwarded", "for=203.0.113.77"}, 403, "through a proxy"},
		{"X-Real-IP", "", []string{"X-Real-IP", "203.0.113.77"}, 403, "through a proxy"},
		{"Via", "", []string{"Via", "1.1 proxy"}, 403, "through a proxy"},
		{"a cross-site Origin", "", []string{"Origin", "https://evil.example"}, 403, "from another site"},
		{"Origin null", "", []string{"Origin", "null"}, 403, "from another site"},
		{"the same host, another port", "", []string{"Origin", "http://127.0.0.1:1"}, 403, "from another site"},
		{"the same origin", "", []string{"Origin", base, "Sec-Fetch-Site", "same-origin"}, 200, ""},
		{"Sec-Fetch-Site cross-site", "", []string{"Sec-Fetch-Site", "cross-site"}, 403, "from another site"},
		{"Sec-Fetch-Site same-site", "", []string{"Sec-Fetch-Site", "same-site"}, 403, "from another site"},
		{"Sec-Fetch-Site none", "", []string{"Sec-Fetch-Site", "none"}, 200, ""},
		{"default port", "admin.example", []string{"Origin", "http://admin.example:80"}, 200, ""},
		{"https origin to port 80", "admin.example:80", []string{"Origin", "https://admin.example"}, 403, "from another site"},
	} {
		status, e := adminGet(t, base, c.host, c.headers...)
		if status != c.status || c.status != 200 && (e.Code != "forbidden" || !strings.Contains(e.Message, c.message)) {
			t.Errorf("%s: %d %s %q; want %d with %q", c.name, status, e.Code, e.Message, c.status, c.message)
		}
	}
}

// A request from a trusted proxy is refused unless AdminViaProxy allows it.
func TestAdminFromATrustedProxy(t *testing.T) {
	ips, err := guard.NewClientIP([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startServer(t, Config{ClientIP: ips})
	if status, e := adminGet(t, base, ""); status != 403 || !strings.Contains(e.Message, "through a proxy") {
		t.Fatalf("from a trusted proxy: %d %q, want 403", status, e.Message)
	}
	base, _ = startServer(t, Config{ClientIP: ips, AdminViaProxy: true})
	if status, e := adminGet(t, base, "", "X-Forwarded-For", "192.0.2.1"); status != 200 {
		t.Fatalf("from a trusted proxy with AdminViaProxy: %d %q, want 200", status, e.Message)
	}
}

// After 10 failed authentications a client is refused (429) for a while, even with the
// right token, so that guesses cannot go on; every refusal is audited.
func TestAdminFailuresAreLimited(t *testing.T) {
	var logs testkit.SyncBuffer
	s := newTestServer(t, Config{})
	s.cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	base := listen(t, s.Serve)
	for i := range 10 {
		req, _ := http.NewRequest(http.MethodGet, base+"/admin/v1/version", nil)
		req.Header.Set("Authorization", "Bearer guess-"+string(rune('a'+i)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	status, e := adminGet(t, base, "")
	if status != 429 || e.Code != "rate_limited" || !strings.Contains(e.Message, "too many failed admin authentications") {
		t.Fatalf("the right token after 10 failures: %d %s %q, want 429", status, e.Code, e.Message)
	}
	if n := bytes.Count([]byte(logs.String()), []byte(`"msg":"admin audit"`)); n != 11 {
		t.Fatalf("%d audit lines for 11 refusals:\n%s", n, logs.String())
	}
}

// With AdminApart the admin API is on a listener of its own, and the function listener has
// no /admin.
func TestAdminApart(t *testing.T) {
	s := newTestServer(t, Config{AdminApart: true})
	base := listen(t, s.Serve)
	adminBase := listen(t, s.ServeAdmin)
	if status, _ := adminGet(t, adminBase, ""); status != 200 {
		t.Fatalf("admin listener: %d, want 200", status)
	}
	if status, e := adminGet(t, base, ""); status != 404 || e.Code != "not_found" {
		t.Fatalf("function listener: %d %s, want 404 not_found", status, e.Code)
	}
	resp, err := http.Get(adminBase + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("GET /healthz on the admin listener: %d, want 404", resp.StatusCode)
	}
}

func TestNewRefusesNoAdminToken(t *testing.T) {
	s := newTestServer(t, Config{})
	cfg := s.cfg
	cfg.AdminToken = ""
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "admin token is required") {
		t.Fatalf("New without an admin token: %v", err)
	}
	cfg.AdminToken, cfg.AdminHosts = "t", []string{"admin.example:8080"}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "want a host name") {
		t.Fatalf("New with a host and port in AdminHosts: %v", err)
	}
}
