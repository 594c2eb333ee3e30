package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/gateway/auth/authtest"
)

// idemManifest is asyncManifest with PUT routes too, for keys reused with another method.
const idemManifest = asyncManifest + `  - http: {method: PUT, path: "/t/{op}"}
`

// errorOf returns the code and message of the gateway's JSON error in r.
func errorOf(t *testing.T, r response) (code, message string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message, RequestID string }
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Code == "" || body.Error.RequestID == "" {
		t.Fatalf("%d %q is not the gateway's JSON error: %v", r.Status, r.Body, err)
	}
	return body.Error.Code, body.Error.Message
}

// runs counts the invocations of async request id in the RECORD_FILE record.
func runs(t *testing.T, record, id string) int {
	t.Helper()
	lines, err := os.ReadFile(record)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(lines), " "+id+" ")
}

// fetched waits for the reply of id, fetched with headers, and checks it is 200 body.
func fetched(t *testing.T, g *gateway, id, body string, headers ...string) {
	t.Helper()
	r := do(t, "GET", g.URL+"/requests/"+id+"?wait=10s", nil, headers...)
	if r.Status != 200 || string(r.Body) != body {
		t.Fatalf("reply of %s fetched with %q: %d %s, want 200 %s", id, headers, r.Status, r.Body, body)
	}
}

// TestAsyncIdempotencyBehindProxy: behind a trusted proxy, the Idempotency-Key is scoped by
// the client X-Forwarded-For names, not by the proxy; a key is bound to its call.
func TestAsyncIdempotencyBehindProxy(t *testing.T) {
	record := t.TempDir() + "/record"
	m := writeManifest(t, fmt.Sprintf(idemManifest, record, "v1"))
	g := startGateway(t, "", "--manifests", m, "--jwt-secret", wsSecret, "--trusted-proxies", "127.0.0.1")
	one, two := []string{"X-Forwarded-For", "203.0.113.1"}, []string{"X-Forwarded-For", "203.0.113.2"}
	key := func(client []string) []string { return append([]string{"Idempotency-Key", "order-1"}, client...) }

	// Two clients, one key: two requests, and each runs.
	a := submit(t, g, "/t/record", []byte(`{"n":1}`), key(one)...)
	b := submit(t, g, "/t/record", []byte(`{"n":1}`), key(two)...)
	if a.ID == b.ID {
		t.Fatalf("two clients behind the proxy with one Idempotency-Key got one request %s", a.ID)
	}
	fetched(t, g, a.ID, "recorded", one...)
	fetched(t, g, b.ID, "recorded", two...)
	if ra, rb := runs(t, record, a.ID), runs(t, record, b.ID); ra != 1 || rb != 1 {
		t.Fatalf("runs: %s %d, %s %d; want one each", a.ID, ra, b.ID, rb)
	}

	// The same client, key and call: the same request, which does not run again.
	if again := submit(t, g, "/t/record", []byte(`{"n":1}`), key(one)...); again.ID != a.ID {
		t.Fatalf("the same client's same call with its key: %s, want %s", again.ID, a.ID)
	}

	// The same key for another call: 422, naming what differs, and nothing runs.
	for _, tt := range []struct {
		method, path, body, differs string
	}{
		{"POST", "/t/record", `{"n":2}`, "the body differs"},
		{"POST", "/t/record?x=1", `{"n":1}`, "the path differs"},
		{"POST", "/t/echo", `{"n":1}`, "the path differs"},
		{"PUT", "/t/record", `{"n":1}`, "the method differs"},
		{"PUT", "/t/echo", `{"n":3}`, "the method, path and body differ"},
	} {
		r := do(t, tt.method, g.URL+tt.path, []byte(tt.body), append([]string{"Prefer", "respond-async"}, key(one)...)...)
		code, msg := "", ""
		if r.Status == 422 {
			code, msg = errorOf(t, r)
		}
		want := "this Idempotency-Key was used for another call (" + tt.differs + "); use a new key for a new call"
		if r.Status != 422 || code != "idempotency_key_reused" || msg != want {
			t.Fatalf("%s %s %s with a used key: %d %s; want 422 idempotency_key_reused %q", tt.method, tt.path, tt.body, r.Status, r.Body, want)
		}
	}
	// The key still names the first request; the other client's key is its own.
	if again := submit(t, g, "/t/record", []byte(`{"n":1}`), key(one)...); again.ID != a.ID {
		t.Fatalf("after the refusals: %s, want %s", again.ID, a.ID)
	}
	if again := submit(t, g, "/t/record", []byte(`{"n":1}`), key(two)...); again.ID != b.ID {
		t.Fatalf("the other client after the refusals: %s, want %s", again.ID, b.ID)
	}
	lines, _ := os.ReadFile(record)
	if n := strings.Count(string(lines), "\n"); n != 2 {
		t.Fatalf("%d invocations, want the two first ones:\n%s", n, lines)
	}
}

// TestAsyncTokenWithoutSubject: a token without a `sub` shares nothing: its requests belong
// to the client IP, their keys are that IP's, and another IP cannot read their replies.
func TestAsyncTokenWithoutSubject(t *testing.T) {
	record := t.TempDir() + "/record"
	g := asyncGateway(t, record, "v1", "--trusted-proxies", "127.0.0.1")
	one, two := "203.0.113.1", "203.0.113.2"
	noSub := "Bearer " + authtest.HS256(t, wsSecret, map[string]any{"role": "service"})
	emptySub := "Bearer " + authtest.HS256(t, wsSecret, map[string]any{"sub": "", "role": "service"})
	numberSub := "Bearer " + authtest.HS256(t, wsSecret, map[string]any{"sub": 7})
	alice := "Bearer " + token(t, "alice")

	// Sub-less tokens on two clients, one key: two requests, each runs.
	a := submit(t, g, "/me/record", []byte(`{}`), "Authorization", noSub, "Idempotency-Key", "k", "X-Forwarded-For", one)
	b := submit(t, g, "/me/record", []byte(`{}`), "Authorization", noSub, "Idempotency-Key", "k", "X-Forwarded-For", two)
	c := submit(t, g, "/me/record", []byte(`{}`), "Authorization", emptySub, "Idempotency-Key", "k", "X-Forwarded-For", two)
	if a.ID == b.ID || c.ID != b.ID {
		t.Fatalf("sub-less tokens, one key: %s from %s, %s and %s from %s; want the IPs apart, each IP's one", a.ID, one, b.ID, c.ID, two)
	}

	// Only the client IP reads the reply, with a token or without; not another IP, whatever
	// its token.
	fetched(t, g, a.ID, "recorded", "Authorization", noSub, "X-Forwarded-For", one)
	fetched(t, g, a.ID, "recorded", "X-Forwarded-For", one)
	fetched(t, g, b.ID, "recorded", "Authorization", numberSub, "X-Forwarded-For", two)
	for _, h := range [][]string{
		{"X-Forwarded-For", two},
		{"Authorization", noSub, "X-Forwarded-For", two},
		{"Authorization", alice, "X-Forwarded-For", two},
		{},
	} {
		r := do(t, "GET", g.URL+"/requests/"+a.ID, nil, h...)
		code, msg := "", ""
		if r.Status == 403 {
			code, msg = errorOf(t, r)
		}
		if r.Status != 403 || code != "forbidden" || msg != "this request was made with a token without a subject; only its client IP may fetch it" {
			t.Fatalf("the reply of a sub-less token's request fetched with %q: %d %s, want 403", h, r.Status, r.Body)
		}
	}
	// The WebSocket client IP is found the same way.
	dialWS(t, wsURL(g, ""), http.Header{"X-Forwarded-For": {two}}).refused(map[string]any{"op": "subscribe", "topic": a.Topic}, "forbidden")
	dialWS(t, wsURL(g, "token="+token(t, "alice")), http.Header{"X-Forwarded-For": {two}}).refused(map[string]any{"op": "subscribe", "topic": a.Topic}, "forbidden")
	if f := dialWS(t, wsURL(g, ""), http.Header{"X-Forwarded-For": {one}}).mustOK(map[string]any{"op": "subscribe", "topic": a.Topic}); len(f.Publications) != 1 {
		t.Fatalf("subscribe from the request's IP: %+v, want its reply", f)
	}

	// Subjects keep their own scope across IPs: one key, two subjects, two requests; the same
	// subject from another IP, the same request.
	x := submit(t, g, "/me/record", []byte(`{}`), "Authorization", alice, "Idempotency-Key", "k", "X-Forwarded-For", one)
	y := submit(t, g, "/me/record", []byte(`{}`), "Authorization", "Bearer "+token(t, "bob"), "Idempotency-Key", "k", "X-Forwarded-For", one)
	z := submit(t, g, "/me/record", []byte(`{}`), "Authorization", alice, "Idempotency-Key", "k", "X-Forwarded-For", two)
	if x.ID == y.ID || z.ID != x.ID || x.ID == a.ID {
		t.Fatalf("subjects and one key: alice %s, bob %s, alice elsewhere %s (sub-less %s)", x.ID, y.ID, z.ID, a.ID)
	}
	for _, id := range []string{a.ID, b.ID} {
		if n := runs(t, record, id); n != 1 {
			t.Fatalf("request %s ran %d times, want once", id, n)
		}
	}
}

// TestAsyncRequestsRateLimited: GET /requests/{id} counts against --rate-limit, in the
// budget of the function calls.
func TestAsyncRequestsRateLimited(t *testing.T) {
	g := asyncGateway(t, "", "v1", "--rate-limit", "4/h", "--trusted-proxies", "127.0.0.1")
	one := []string{"X-Forwarded-For", "203.0.113.1"}
	a := submit(t, g, "/t/echo", []byte("hi"), one...) // 1
	fetched(t, g, a.ID, "hi", one...)                  // 2
	for i := range 2 {                                 // 3, 4
		if r := do(t, "GET", g.URL+"/requests/"+a.ID, nil, one...); r.Status != 200 {
			t.Fatalf("fetch %d within the limit: %d %s", i+1, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/requests/" + a.ID, "/requests/0123456789abcdef0123456789abcdef"} {
		r := do(t, "GET", g.URL+path, nil, one...)
		code, _ := errorOf(t, r)
		if r.Status != 429 || code != "rate_limited" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("GET %s past the limit: %d %v %s, want 429 rate_limited with Retry-After", path, r.Status, r.Header, r.Body)
		}
	}
	if r := do(t, "POST", g.URL+"/t/echo", []byte("hi"), one...); r.Status != 429 {
		t.Fatalf("a call after the fetches used the budget: %d, want 429", r.Status)
	}
	// Another client has its own budget.
	if r := do(t, "GET", g.URL+"/requests/"+a.ID, nil, "X-Forwarded-For", "203.0.113.2"); r.Status != 200 {
		t.Fatalf("another client's fetch: %d %s", r.Status, r.Body)
	}
}
