package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/gateway/auth/authtest"
	"github.com/edgefn/edgefn/internal/testkit"
)

const wsSecret = "ws-e2e-secret-of-32-bytes-or-so!"

// wsManifest binds testfn to HTTP (POST /t/notify?topic= notifies) and to client publishes
// on signed.*, with topic rules for every case the tests need.
const wsManifest = `
kind: topics
rules:
  - match: open.*
    subscribe: 'true'
    publish: 'true'
  - match: user.{id}
    subscribe: 'claims.sub == params.id'
  - match: signed.*
    subscribe: 'claims.sub != ""'
    publish: 'claims.sub != ""'
  - match: audit.ws
    subscribe: 'true'
  - match: readonly.*
    subscribe: 'true'
---
name: t
handler: {{testfn}}
triggers:
  - http: {method: POST, path: "/t/{op}"}
  - websocket: {topic: "signed.*"}
`

func startWSGateway(t *testing.T, args ...string) *gateway {
	t.Helper()
	return startGateway(t, "", append([]string{"--manifests", writeManifest(t, wsManifest), "--jwt-secret", wsSecret}, args...)...)
}

// notify makes testfn notify topic with data through POST /t/notify.
func notify(t *testing.T, g *gateway, topic, data string) {
	t.Helper()
	r := do(t, "POST", g.URL+"/t/notify?topic="+topic, []byte(data), "Content-Type", "application/json")
	if r.Status != 202 {
		t.Fatalf("notify %s: %d %s", topic, r.Status, r.Body)
	}
}

func token(t *testing.T, sub string) string {
	return authtest.HS256(t, wsSecret, map[string]any{"sub": sub})
}

func TestWSAuth(t *testing.T) {
	g := startWSGateway(t)

	// A token in the query.
	c := dialWS(t, wsURL(g, "token="+token(t, "u1")), nil)
	c.mustOK(map[string]any{"op": "subscribe", "topic": "user.u1"})
	c.refused(map[string]any{"op": "subscribe", "topic": "user.u2"}, "forbidden")
	c.mustOK(map[string]any{"op": "ping"})

	// A token in the first frame.
	c = dialWS(t, wsURL(g, ""), nil)
	c.refused(map[string]any{"op": "subscribe", "topic": "signed.a"}, "forbidden") // anonymous so far
	c.mustOK(map[string]any{"op": "auth", "token": token(t, "u2")})
	c.mustOK(map[string]any{"op": "subscribe", "topic": "signed.a"})
	c.mustOK(map[string]any{"op": "subscribe", "topic": "user.u2"})
	// A new token for another subject is refused; the connection keeps its own.
	c.refused(map[string]any{"op": "auth", "token": token(t, "u3")}, "forbidden")

	// Missing token: anonymous, allowed only what the rules give anyone.
	c = dialWS(t, wsURL(g, ""), nil)
	c.mustOK(map[string]any{"op": "subscribe", "topic": "open.x"})
	c.refused(map[string]any{"op": "subscribe", "topic": "user.u1"}, "forbidden")

	// Expired and badly signed tokens close the connection with 4001.
	expired := authtest.ExpiredHS256(t, wsSecret, map[string]any{"sub": "u1"})
	c = dialWS(t, wsURL(g, "token="+expired), nil)
	if code := c.closed(5 * time.Second); code != 4001 {
		t.Fatalf("expired token in the query: close %d (%v), want 4001", code, c.err())
	}
	bad := authtest.HS256(t, "not-the-secret-of-this-gateway!!", map[string]any{"sub": "u1"})
	c = dialWS(t, wsURL(g, ""), nil)
	c.sendRaw(`{"id":"a1","op":"auth","token":"` + bad + `"}`)
	if f := c.reply(`"a1"`); f.OK || f.Error == nil || f.Error.Code != "unauthorized" {
		t.Fatalf("bad signature: %+v", f)
	}
	if code := c.closed(5 * time.Second); code != 4001 {
		t.Fatalf("bad signature: close %d (%v), want 4001", code, c.err())
	}

	// A token that expires while connected closes the connection when it does.
	soon := authtest.HS256(t, wsSecret, map[string]any{"sub": "u1", "exp": time.Now().Add(1500 * time.Millisecond).Unix()})
	c = dialWS(t, wsURL(g, "token="+soon), nil)
	c.mustOK(map[string]any{"op": "subscribe", "topic": "user.u1"})
	if code := c.closed(5 * time.Second); code != 4001 {
		t.Fatalf("expiring token: close %d (%v), want 4001", code, c.err())
	}
}

func TestWSProtocol(t *testing.T) {
	g := startWSGateway(t)
	sub := dialWS(t, wsURL(g, "token="+token(t, "u1")), nil)
	first := sub.mustOK(map[string]any{"op": "subscribe", "topic": "open.news"})
	if first.Epoch == "" || first.Offset != "0" {
		t.Fatalf("subscribe to a fresh topic: epoch %q offset %q, want an epoch and offset 0", first.Epoch, first.Offset)
	}
	sub.refused(map[string]any{"op": "subscribe", "topic": "open.news"}, "already_subscribed")
	sub.refused(map[string]any{"op": "subscribe", "topic": "nobody.rules.this"}, "forbidden")
	sub.refused(map[string]any{"op": "subscribe", "topic": "bad topic!"}, "bad_request")
	sub.refused(map[string]any{"op": "subscribe", "topic": "open.news2", "epoch": "x"}, "bad_request")

	// A function's notification and a client's publish both reach the subscriber, in order.
	notify(t, g, "open.news", `{"n":1}`)
	pub := dialWS(t, wsURL(g, ""), nil)
	p := pub.mustOK(map[string]any{"op": "publish", "topic": "open.news", "data": map[string]any{"n": 2}})
	if p.Offset != "2" || p.Epoch != first.Epoch {
		t.Fatalf("publish reply: epoch %q offset %q, want %q and 2", p.Epoch, p.Offset, first.Epoch)
	}
	for i, want := range []string{`{"n":1}`, `{"n":2}`} {
		f := sub.publication(5 * time.Second)
		if f.Topic != "open.news" || f.Offset != strconv.Itoa(i+1) || string(f.Data) != want {
			t.Fatalf("publication %d: %+v (data %s), want offset %d data %s", i, f, f.Data, i+1, want)
		}
	}
	pub.refused(map[string]any{"op": "publish", "topic": "readonly.x", "data": 1}, "forbidden")
	pub.refused(map[string]any{"op": "publish", "topic": "open.news"}, "bad_request")

	// Unsubscribe stops publications.
	sub.mustOK(map[string]any{"op": "unsubscribe", "topic": "open.news"})
	sub.refused(map[string]any{"op": "unsubscribe", "topic": "open.news"}, "not_subscribed")
	notify(t, g, "open.news", `{"n":3}`)
	sub.mustOK(map[string]any{"op": "ping"}) // the notification went out before this reply
	sub.noPublication(200 * time.Millisecond)

	// Bad frames are answered with errors (echoing the id when it can be read) and the
	// connection stays.
	for _, bad := range []struct{ frame, id, code string }{
		{`not json`, "", "bad_request"},
		{`[1,2,3]`, "", "bad_request"},
		{`{"id":10,"op":"publish","topic":"open.x","data":}`, "", "bad_request"},
		{`{"id":{"x":1},"op":"ping"}`, "", "bad_request"},
		{`{"id":7,"op":"frobnicate"}`, "7", "unknown_op"},
		{`{"id":8}`, "8", "bad_request"},
		{`{"id":9,"op":"subscribe"}`, "9", "bad_request"},
	} {
		sub.sendRaw(bad.frame)
		if f := sub.reply(bad.id); f.OK || f.Error == nil || f.Error.Code != bad.code {
			t.Fatalf("frame %s: %+v, want error %s", bad.frame, f, bad.code)
		}
	}
	sub.mustOK(map[string]any{"op": "ping"})

	// A connection subscribes to at most 128 topics.
	many := dialWS(t, wsURL(g, ""), nil)
	for i := 0; i < 128; i++ {
		many.mustOK(map[string]any{"op": "subscribe", "topic": fmt.Sprintf("open.t%d", i)})
	}
	many.refused(map[string]any{"op": "subscribe", "topic": "open.one-too-many"}, "too_many_subscriptions")
	many.mustOK(map[string]any{"op": "unsubscribe", "topic": "open.t0"})
	many.mustOK(map[string]any{"op": "subscribe", "topic": "open.one-too-many"})

	// A binary frame closes with 4400, a frame over 64 KiB with 1009.
	bin := dialWS(t, wsURL(g, ""), nil)
	bin.writeMu.Lock()
	_ = bin.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	bin.writeMu.Unlock()
	if code := bin.closed(5 * time.Second); code != 4400 {
		t.Fatalf("binary frame: close %d (%v), want 4400", code, bin.err())
	}
	big := dialWS(t, wsURL(g, ""), nil)
	big.writeMu.Lock()
	_ = big.conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"publish","topic":"open.x","data":"`+strings.Repeat("x", 70<<10)+`"}`))
	big.writeMu.Unlock()
	if code := big.closed(5 * time.Second); code != 1009 {
		t.Fatalf("70 KiB frame: close %d (%v), want 1009", code, big.err())
	}

	// GET /ws without an upgrade, and from a foreign origin.
	if r := do(t, "GET", g.URL+"/ws", nil); r.Status != 426 {
		t.Fatalf("GET /ws without upgrade: %d %s", r.Status, r.Body)
	}
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(g, ""), http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("foreign origin: %v %v, want 403", err, resp)
	}
	dialWS(t, wsURL(g, ""), http.Header{"Origin": {"http://" + g.Addr}}).mustOK(map[string]any{"op": "ping"})

	// The metrics count what happened: four connections are open (sub, pub, many and the
	// same-origin one; the binary and big ones were closed), two publications reached a
	// subscriber (n=3 had none left), nobody was too slow.
	metrics := func() string { return string(do(t, "GET", g.URL+"/metrics", nil).Body) }
	testkit.Eventually(t, 5*time.Second, "edgefn_ws_connections 4", func() bool {
		return strings.Contains(metrics(), "\nedgefn_ws_connections 4\n")
	})
	m := metrics()
	for _, want := range []string{"\nedgefn_ws_publications_total 2\n", "\nedgefn_ws_slow_disconnects_total 0\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", strings.TrimSpace(want), m)
		}
	}
}

func TestWSAllowedOrigins(t *testing.T) {
	g := startWSGateway(t, "--allowed-origins", "https://app.example,https://admin.example")
	dialWS(t, wsURL(g, ""), http.Header{"Origin": {"https://app.example"}}).mustOK(map[string]any{"op": "ping"})
	for _, o := range []string{"http://" + "127.0.0.1", "https://evil.example", "https://app.example.evil"} {
		_, resp, err := websocket.DefaultDialer.Dial(wsURL(g, ""), http.Header{"Origin": {o}})
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("origin %s: %v, want 403", o, err)
		}
	}
}

func TestWSTrigger(t *testing.T) {
	record := t.TempDir() + "/record"
	g := startGateway(t, "", "--manifests", writeManifest(t, strings.Replace(wsManifest, "handler: {{testfn}}",
		"handler: {{testfn}}\nsandbox: off\nenv: {RECORD_FILE: "+record+"}", 1)), "--jwt-secret", wsSecret)
	watcher := dialWS(t, wsURL(g, ""), nil)
	watcher.mustOK(map[string]any{"op": "subscribe", "topic": "audit.ws"})
	room := dialWS(t, wsURL(g, "token="+token(t, "alice")), nil)
	room.mustOK(map[string]any{"op": "subscribe", "topic": "signed.room"})

	// The function runs with the data and the claims, its notification goes out, and the
	// publish reaches the topic's subscribers.
	room.mustOK(map[string]any{"op": "publish", "topic": "signed.room", "data": map[string]any{"text": "hi"}})
	a := watcher.publication(5 * time.Second)
	var seen struct {
		Sub, Topic, Source string
		Data               json.RawMessage
	}
	if err := json.Unmarshal(a.Data, &seen); err != nil || seen.Sub != "alice" || seen.Topic != "signed.room" ||
		seen.Source != "websocket/signed.room" || string(seen.Data) != `{"text":"hi"}` {
		t.Fatalf("the function saw %s (%v)", a.Data, err)
	}
	if p := room.publication(5 * time.Second); string(p.Data) != `{"text":"hi"}` {
		t.Fatalf("subscriber got %s", p.Data)
	}

	// A function that fails refuses the publish: nothing is published.
	room.refused(map[string]any{"op": "publish", "topic": "signed.room", "data": map[string]any{"reject": true}}, "function_failed")
	room.mustOK(map[string]any{"op": "ping"})
	room.noPublication(200 * time.Millisecond)
	// Anonymous clients may not publish there at all.
	dialWS(t, wsURL(g, ""), nil).refused(map[string]any{"op": "publish", "topic": "signed.room", "data": 1}, "forbidden")
}

func TestWSRecovery(t *testing.T) {
	g := startWSGateway(t, "--topic-history", "8")
	c := dialWS(t, wsURL(g, ""), nil)
	s := c.mustOK(map[string]any{"op": "subscribe", "topic": "open.feed"})
	notify(t, g, "open.feed", `{"n":1}`)
	last := c.publication(5 * time.Second)
	c.conn.Close()

	for i := 2; i <= 6; i++ {
		notify(t, g, "open.feed", fmt.Sprintf(`{"n":%d}`, i))
	}
	c = dialWS(t, wsURL(g, ""), nil)
	r := c.mustOK(map[string]any{"op": "subscribe", "topic": "open.feed", "epoch": s.Epoch, "since": last.Offset})
	if r.Recovered == nil || !*r.Recovered || r.Epoch != s.Epoch || r.Offset != "6" || len(r.Publications) != 5 {
		t.Fatalf("resubscribe: %+v, want recovered with 5 publications up to offset 6", r)
	}
	for i, p := range r.Publications {
		if p.Offset != strconv.Itoa(i+2) || string(p.Data) != fmt.Sprintf(`{"n":%d}`, i+2) {
			t.Fatalf("recovered publication %d: %+v", i, p)
		}
	}
	// Live publications continue from there.
	notify(t, g, "open.feed", `{"n":7}`)
	if p := c.publication(5 * time.Second); p.Offset != "7" {
		t.Fatalf("after recovery: %+v", p)
	}
	c.conn.Close()

	// Up to date: recovered, nothing to send.
	c = dialWS(t, wsURL(g, ""), nil)
	r = c.mustOK(map[string]any{"op": "subscribe", "topic": "open.feed", "epoch": s.Epoch, "since": "7"})
	if r.Recovered == nil || !*r.Recovered || len(r.Publications) != 0 {
		t.Fatalf("resubscribe at the top: %+v", r)
	}
	c.conn.Close()

	// The history keeps 8: after 10 more, offset 7 cannot be recovered, and nothing partial is sent.
	for i := 8; i <= 17; i++ {
		notify(t, g, "open.feed", fmt.Sprintf(`{"n":%d}`, i))
	}
	c = dialWS(t, wsURL(g, ""), nil)
	r = c.mustOK(map[string]any{"op": "subscribe", "topic": "open.feed", "epoch": s.Epoch, "since": "7"})
	if r.Recovered == nil || *r.Recovered || len(r.Publications) != 0 || r.Offset != "17" {
		t.Fatalf("resubscribe after the history was trimmed: %+v, want recovered:false at 17", r)
	}
	// A wrong epoch cannot be recovered either.
	r = c.mustOK(map[string]any{"op": "subscribe", "topic": "open.feed2", "epoch": "not-the-epoch", "since": "1"})
	if r.Recovered == nil || *r.Recovered {
		t.Fatalf("resubscribe with a foreign epoch: %+v", r)
	}
}

// TestWSSlowClient checks that a client that never reads is closed with 4008 while a
// healthy client on the same topic receives every publication on time.
func TestWSSlowClient(t *testing.T) {
	g := startWSGateway(t)
	healthy := dialWS(t, wsURL(g, ""), nil)
	healthy.mustOK(map[string]any{"op": "subscribe", "topic": "open.firehose"})

	// The slow client stops reading after its reply. What the kernel buffers (a few MiB on
	// loopback) fills first, then the server's send queue (1 MiB).
	slow, _, err := websocket.DefaultDialer.Dial(wsURL(g, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"op":"subscribe","topic":"open.firehose"}`)); err != nil {
		t.Fatal(err)
	}
	if _, reply, err := slow.ReadMessage(); err != nil || !bytes.Contains(reply, []byte(`"ok":true`)) {
		t.Fatalf("slow client's subscribe: %s %v", reply, err)
	}

	const n = 800
	payload := `{"pad":"` + strings.Repeat("x", 16<<10) + `"}`
	var worst time.Duration
	for i := 1; i <= n; i++ {
		r := g.admin(t, "POST", "/admin/v1/publish", []byte(`{"topic":"open.firehose","data":`+payload+`}`), "Content-Type", "application/json")
		if r.Status != 200 {
			t.Fatalf("publish %d: %d %s", i, r.Status, r.Body)
		}
		sent := time.Now()
		p := healthy.publication(10 * time.Second)
		if p.Offset != strconv.Itoa(i) {
			t.Fatalf("healthy client: publication %d has offset %s", i, p.Offset)
		}
		worst = max(worst, time.Since(sent))
	}
	t.Logf("healthy client: %d publications of 16 KiB, slowest %s after its publish returned", n, worst)
	if worst > 2*time.Second {
		t.Fatalf("the healthy client waited %s for a publication: the slow one held it up", worst)
	}
	testkit.Eventually(t, 10*time.Second, "the slow client counted in edgefn_ws_slow_disconnects_total", func() bool {
		return strings.Contains(string(do(t, "GET", g.URL+"/metrics", nil).Body), "edgefn_ws_slow_disconnects_total 1")
	})
	// Now it reads: what was in flight, then the close.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, 4008) {
			t.Fatalf("slow client ended with %v, want close 4008", err)
		}
		break
	}
}

func TestWSShutdownSends1001(t *testing.T) {
	g := startWSGateway(t)
	c := dialWS(t, wsURL(g, ""), nil)
	c.mustOK(map[string]any{"op": "subscribe", "topic": "open.bye"})
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.closed(3 * time.Second); code != 1001 { // well within the 5s grace: not held back by in-flight HTTP
		t.Fatalf("shutdown: close %d (%v), want 1001", code, c.err())
	}
	if err := g.wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestWSTwoNodes runs two gateways sharing Redis: what a function on one node notifies
// reaches the subscribers of both, each exactly once and in order, and a client recovers on
// one node what it missed on the other.
func TestWSTwoNodes(t *testing.T) {
	url := redisURL(t)
	a := startWSGateway(t, "--redis", url, "--node-id", "ws-a")
	b := startWSGateway(t, "--redis", url, "--node-id", "ws-b")
	topic := fmt.Sprintf("open.twonodes%d", time.Now().UnixNano())

	onA := dialWS(t, wsURL(a, ""), nil)
	s := onA.mustOK(map[string]any{"op": "subscribe", "topic": topic})
	onB := dialWS(t, wsURL(b, ""), nil)
	onB.mustOK(map[string]any{"op": "subscribe", "topic": topic})

	const n = 50
	for i := 1; i <= n; i++ {
		notify(t, b, topic, fmt.Sprintf(`{"n":%d}`, i))
	}
	for _, c := range []*wsClient{onA, onB} {
		for i := 1; i <= n; i++ {
			p := c.publication(5 * time.Second)
			if p.Offset != strconv.Itoa(i) || string(p.Data) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("publication %d: offset %s data %s", i, p.Offset, p.Data)
			}
		}
		c.mustOK(map[string]any{"op": "ping"})
		c.noPublication(300 * time.Millisecond) // exactly once
	}

	// Disconnect from A, miss three, resume on B.
	onA.conn.Close()
	for i := n + 1; i <= n+3; i++ {
		notify(t, a, topic, fmt.Sprintf(`{"n":%d}`, i))
	}
	again := dialWS(t, wsURL(b, ""), nil)
	r := again.mustOK(map[string]any{"op": "subscribe", "topic": topic, "epoch": s.Epoch, "since": strconv.Itoa(n)})
	if r.Recovered == nil || !*r.Recovered || len(r.Publications) != 3 || r.Publications[0].Offset != strconv.Itoa(n+1) {
		t.Fatalf("resume on the other node: %+v", r)
	}
}
