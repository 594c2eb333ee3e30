package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// asyncManifest binds testfn to routes that allow async calls, require them, or require
// a JWT; RECORD_FILE and VERSION come from the test.
const asyncManifest = `
name: t
handler: {{testfn}}
timeout: 10s
sandbox: off
env: {RECORD_FILE: "%s", VERSION: "%s", DEFAULT_OP: echo}
triggers:
  - http: {method: POST, path: "/t/{op}"}
  - http: {method: POST, path: "/always/{op}", async: always}
  - http: {method: POST, path: "/never/{op}", async: never}
  - http: {method: POST, path: "/me/{op}", auth: jwt}
`

var idRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func asyncGateway(t *testing.T, record, version string, args ...string) *gateway {
	t.Helper()
	m := writeManifest(t, fmt.Sprintf(asyncManifest, record, version))
	return startGateway(t, "", append([]string{"--manifests", m, "--jwt-secret", wsSecret}, args...)...)
}

type accepted struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Topic  string `json:"topic"`
}

// submit makes an async call and checks the 202.
func submit(t *testing.T, g *gateway, path string, body []byte, headers ...string) accepted {
	t.Helper()
	r := do(t, "POST", g.URL+path, body, append([]string{"Prefer", "respond-async"}, headers...)...)
	if r.Status != 202 {
		t.Fatalf("async %s: %d %s, want 202", path, r.Status, r.Body)
	}
	var a accepted
	r.JSON(t, &a)
	if !idRE.MatchString(a.ID) || a.Status != "pending" || a.Topic != "requests."+a.ID ||
		r.Header.Get("Location") != "/requests/"+a.ID || r.Header.Get("X-Correlation-ID") != a.ID {
		t.Fatalf("async %s: 202 %s with Location %q, X-Correlation-ID %q", path, r.Body, r.Header.Get("Location"), r.Header.Get("X-Correlation-ID"))
	}
	return a
}

func TestAsyncRequestReply(t *testing.T) {
	record := t.TempDir() + "/record"
	g := asyncGateway(t, record, "v1", "--reply-ttl", "3s")

	// Pending, then ?wait returns as soon as the reply exists.
	a := submit(t, g, "/t/wait?ms=700", nil)
	if r := do(t, "GET", g.URL+"/requests/"+a.ID, nil); r.Status != 202 || !strings.Contains(string(r.Body), `"pending"`) {
		t.Fatalf("before completion: %d %s, want 202 pending", r.Status, r.Body)
	}
	start := time.Now()
	r := do(t, "GET", g.URL+"/requests/"+a.ID+"?wait=20s", nil)
	if r.Status != 200 || string(r.Body) != "waited" {
		t.Fatalf("wait: %d %s", r.Status, r.Body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("?wait=20s returned after %s: it did not wake on the reply", took)
	}
	// The reply stays until the TTL, then 404.
	if r := do(t, "GET", g.URL+"/requests/"+a.ID, nil); r.Status != 200 || string(r.Body) != "waited" {
		t.Fatalf("after completion: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 15*time.Second, "the reply expires", func() bool {
		return do(t, "GET", g.URL+"/requests/"+a.ID, nil).Status == 404
	})

	// The function's own status and headers come back as they are.
	a = submit(t, g, "/t/status?code=418", nil)
	r = do(t, "GET", g.URL+"/requests/"+a.ID+"?wait=10s", nil)
	if r.Status != 418 || !strings.Contains(string(r.Body), "chosen status 418") {
		t.Fatalf("function status: %d %s", r.Status, r.Body)
	}
	a = submit(t, g, "/t/headers?X-Custom=yes", nil)
	if r = do(t, "GET", g.URL+"/requests/"+a.ID+"?wait=10s", nil); r.Status != 200 || r.Header.Get("X-Custom") != "yes" {
		t.Fatalf("function headers: %d %v", r.Status, r.Header)
	}

	// async: always needs no header; async: never ignores it; no route, no 202.
	if r := do(t, "POST", g.URL+"/always/echo", []byte("x")); r.Status != 202 {
		t.Fatalf("async: always: %d %s", r.Status, r.Body)
	}
	if r := do(t, "POST", g.URL+"/never/echo", []byte("sync"), "Prefer", "respond-async"); r.Status != 200 || string(r.Body) != "sync" {
		t.Fatalf("async: never: %d %s", r.Status, r.Body)
	}
	if r := do(t, "POST", g.URL+"/nowhere", nil, "Prefer", "respond-async"); r.Status != 404 {
		t.Fatalf("async call to a missing route: %d %s, want 404", r.Status, r.Body)
	}
	if r := do(t, "GET", g.URL+"/requests/00000000000000000000000000000000", nil); r.Status != 404 {
		t.Fatalf("unknown request: %d", r.Status)
	}
	if r := do(t, "GET", g.URL+"/requests/"+a.ID+"?wait=soon", nil); r.Status != 400 {
		t.Fatalf("bad wait: %d", r.Status)
	}

	// The same Idempotency-Key gets the same ID and one invocation.
	first := submit(t, g, "/t/record", []byte(`{}`), "Idempotency-Key", "order-77")
	for i := 0; i < 3; i++ {
		if again := submit(t, g, "/t/record", []byte(`{}`), "Idempotency-Key", "order-77"); again.ID != first.ID {
			t.Fatalf("same Idempotency-Key: %s then %s", first.ID, again.ID)
		}
	}
	other := submit(t, g, "/t/record", []byte(`{}`), "Idempotency-Key", "order-78")
	for _, id := range []string{first.ID, other.ID} {
		if r := do(t, "GET", g.URL+"/requests/"+id+"?wait=10s", nil); r.Status != 200 {
			t.Fatalf("request %s: %d %s", id, r.Status, r.Body)
		}
	}
	lines, _ := os.ReadFile(record)
	if n := strings.Count(string(lines), first.ID); n != 1 {
		t.Fatalf("the idempotent request ran %d times:\n%s", n, lines)
	}

	// The CLI: --async prints the ID, --wait the reply.
	out := strings.TrimSpace(mustCLI(t, g, "invoke", "t", "--async", "--data", `{"x":1}`))
	if !idRE.MatchString(out) {
		t.Fatalf("invoke --async printed %q", out)
	}
	if out := mustCLI(t, g, "invoke", "t", "--wait", "--data", `{"x":1}`); out != "{\"x\":1}\n" {
		t.Fatalf("invoke --wait printed %q", out) // admin invokes carry no op: testfn echoes
	}
}

func TestAsyncOwnerAndWebSocket(t *testing.T) {
	g := asyncGateway(t, "", "v1")
	alice, bob := "Bearer "+token(t, "alice"), "Bearer "+token(t, "bob")

	a := submit(t, g, "/me/wait?ms=500", nil, "Authorization", alice)
	// Only alice may subscribe to its reply or fetch it.
	dialWS(t, wsURL(g, "token="+token(t, "bob")), nil).refused(map[string]any{"op": "subscribe", "topic": a.Topic}, "forbidden")
	dialWS(t, wsURL(g, ""), nil).refused(map[string]any{"op": "subscribe", "topic": a.Topic}, "forbidden")
	c := dialWS(t, wsURL(g, "token="+token(t, "alice")), nil)
	c.mustOK(map[string]any{"op": "subscribe", "topic": a.Topic})
	c.refused(map[string]any{"op": "publish", "topic": a.Topic, "data": 1}, "forbidden")
	p := c.publication(10 * time.Second)
	var reply struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(p.Data, &reply); err != nil || reply.ID != a.ID || reply.StatusCode != 200 || reply.Body != "waited" || reply.Status != "done" {
		t.Fatalf("reply on %s: %s (%v)", a.Topic, p.Data, err)
	}
	if r := do(t, "GET", g.URL+"/requests/"+a.ID, nil, "Authorization", bob); r.Status != 403 {
		t.Fatalf("bob fetching alice's reply: %d", r.Status)
	}
	if r := do(t, "GET", g.URL+"/requests/"+a.ID, nil); r.Status != 401 {
		t.Fatalf("fetching alice's reply without a token: %d", r.Status)
	}
	if r := do(t, "GET", g.URL+"/requests/"+a.ID, nil, "Authorization", alice); r.Status != 200 || string(r.Body) != "waited" {
		t.Fatalf("alice fetching her reply: %d %s", r.Status, r.Body)
	}

	// A subscriber that comes after the reply was stored still gets it, with the subscribe reply.
	b := submit(t, g, "/t/echo", []byte(`{"late":true}`), "Content-Type", "application/json")
	if r := do(t, "GET", g.URL+"/requests/"+b.ID+"?wait=10s", nil); r.Status != 200 {
		t.Fatalf("echo: %d", r.Status)
	}
	late := dialWS(t, wsURL(g, ""), nil) // no JWT on the request: the ID is the capability
	f := late.mustOK(map[string]any{"op": "subscribe", "topic": b.Topic})
	if len(f.Publications) != 1 || !strings.Contains(string(f.Publications[0].Data), b.ID) {
		t.Fatalf("late subscriber: %+v", f)
	}
}

// TestAsyncTwoNodes: requests made on node A run on either node (RabbitMQ shares the work),
// their replies are fetched on A and pushed to subscribers on B.
func TestAsyncTwoNodes(t *testing.T) {
	rurl, aurl := redisURL(t), amqpURL(t)
	nodeA := asyncGateway(t, "", "a", "--redis", rurl, "--amqp", aurl, "--node-id", "async-a")
	nodeB := asyncGateway(t, "", "b", "--redis", rurl, "--amqp", aurl, "--node-id", "async-b")
	waitFunctionsReady(t, nodeA)
	waitFunctionsReady(t, nodeB)

	sub := dialWS(t, wsURL(nodeB, ""), nil)
	ran := map[string]int{}
	const n = 12
	ids := make([]string, n)
	pushed := map[string]bool{}
	for i := range ids {
		a := submit(t, nodeA, "/t/info", nil)
		ids[i] = a.ID
		// A reply that came first is in the subscribe reply; a later one is pushed live.
		if f := sub.mustOK(map[string]any{"op": "subscribe", "topic": a.Topic}); len(f.Publications) > 0 {
			pushed[a.ID] = true
		}
	}
	for len(pushed) < n {
		p := sub.publication(20 * time.Second)
		pushed[strings.TrimPrefix(p.Topic, "requests.")] = true
	}
	for _, id := range ids {
		if !pushed[id] {
			t.Fatalf("no reply pushed for %s", id)
		}
		r := do(t, "GET", nodeA.URL+"/requests/"+id+"?wait=10s", nil)
		var info struct{ Version string }
		r.JSON(t, &info)
		ran[info.Version]++
	}
	if ran["a"]+ran["b"] != n || ran["b"] == 0 {
		t.Fatalf("requests ran on a: %d, b: %d; want all, some on b", ran["a"], ran["b"])
	}
	t.Logf("%d requests made on A ran on A: %d, B: %d", n, ran["a"], ran["b"])
}

// TestAsyncSurvivesGatewayKill: with RabbitMQ and Redis, a call accepted just before the
// gateway was killed runs after it restarts, and its reply can be fetched.
func TestAsyncSurvivesGatewayKill(t *testing.T) {
	rurl, aurl := redisURL(t), amqpURL(t)
	g := asyncGateway(t, "", "v1", "--redis", rurl, "--amqp", aurl)
	a := submit(t, g, "/t/wait?ms=1500", nil)
	g.kill()
	g2 := restartGateway(t, g, "--manifests", writeManifest(t, fmt.Sprintf(asyncManifest, "", "v1")), "--jwt-secret", wsSecret,
		"--redis", rurl, "--amqp", aurl)
	r := do(t, "GET", g2.URL+"/requests/"+a.ID+"?wait=30s", nil)
	if r.Status != 200 || string(r.Body) != "waited" {
		t.Fatalf("after kill -9 and restart: %d %s", r.Status, r.Body)
	}
}
