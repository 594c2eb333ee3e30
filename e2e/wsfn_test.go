package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// wsFnManifest binds testfn to every moment of a WebSocket connection (internal/testfn's
// wsEvent says how it answers each), with topic rules where member.* needs a sub and the
// subscribe function covers every two-segment topic.
const wsFnManifest = `
kind: topics
rules:
  - match: member.*
    subscribe: 'claims.sub != ""'
  - match: room.{room}
    subscribe: 'true'
    publish: 'true'
---
name: wsfn
handler: {{testfn}}
sandbox: off
concurrency: 400
env: {RECORD_FILE: "%s"}
triggers:
  - http: {method: POST, path: "/t/{op}"}
  - websocket: {event: connect}
  - websocket: {event: subscribe, topic: "*.{room}"}
  - websocket: {event: rpc, method: "t.*"}
  - websocket: {event: disconnect}
`

// wsRecord is one line recordWS of testfn wrote.
type wsRecord struct {
	Type    string            `json:"type"`
	Source  string            `json:"source"`
	Subject string            `json:"subject"`
	Claims  map[string]any    `json:"claims"`
	Headers map[string]string `json:"headers"`
	Data    json.RawMessage   `json:"data"`
	Params  map[string]string `json:"params"`
}

func startWSFnGateway(t *testing.T) (*gateway, string) {
	t.Helper()
	record := filepath.Join(t.TempDir(), "record.jsonl")
	g := startGateway(t, "", "--manifests", writeManifest(t, fmt.Sprintf(wsFnManifest, record)), "--jwt-secret", wsSecret)
	waitFunctionsReady(t, g)
	return g, record
}

// readWSRecords reads what testfn recorded so far.
func readWSRecords(t *testing.T, path string) []wsRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []wsRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r wsRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("record line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// awaitWSRecords waits (up to 10s) until the records that keep says yes to number n, and
// returns them.
func awaitWSRecords(t *testing.T, path string, n int, keep func(wsRecord) bool) []wsRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []wsRecord
		for _, r := range readWSRecords(t, path) {
			if keep(r) {
				got = append(got, r)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("%d matching records, want %d: %+v", len(got), n, got)
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connected waits for the connected frame of c.
func (c *wsClient) connected() wsConnected {
	c.t.Helper()
	f := c.reply("")
	if f.Connected == nil || f.Connected.Client == "" {
		c.t.Fatalf("want a connected frame with the client's ID, got %+v", f)
	}
	return *f.Connected
}

func cookie(v string) http.Header {
	return http.Header{"Cookie": {v}, "User-Agent": {"wsfn-test/1"}}
}

// closeText is the reason of the close that ended c.
func (c *wsClient) closeText() string {
	var ce *websocket.CloseError
	if errors.As(c.err(), &ce) {
		return ce.Text
	}
	return ""
}

func TestWSConnectFunction(t *testing.T) {
	g, record := startWSFnGateway(t)

	// A cookie checked by the connect function signs the client in: its claims pass a rule
	// that needs a sub. The subscribe sent before the function answered waited for it.
	c := dialWS(t, wsURL(g, ""), cookie("theme=dark; session=ada"))
	c.sendRaw(`{"id":"early","op":"subscribe","topic":"member.news"}`)
	hello := c.connected()
	var seen struct{ Client, Sub, IP, UserAgent string }
	if err := json.Unmarshal(hello.Data, &seen); err != nil {
		t.Fatalf("connected data %s: %v", hello.Data, err)
	}
	if seen.Client != hello.Client || seen.Sub != "ada" || seen.IP != "127.0.0.1" || seen.UserAgent != "wsfn-test/1" {
		t.Fatalf("what the connect function saw: %+v (connected %+v)", seen, hello)
	}
	if f := c.reply(`"early"`); !f.OK {
		t.Fatalf("subscribe sent before the connect function answered: %+v", f.Error)
	}
	// The new claims are the connection's for every later event.
	echo := c.mustOK(map[string]any{"op": "rpc", "method": "t.echo", "data": 1})
	var got struct{ Sub, Client string }
	_ = json.Unmarshal(echo.Data, &got)
	if got.Sub != "ada" || got.Client != hello.Client {
		t.Fatalf("rpc after a cookie sign-in: %s", echo.Data)
	}
	rec := awaitWSRecords(t, record, 1, func(r wsRecord) bool { return r.Type == "edgefn.ws.connect" && r.Subject == hello.Client })[0]
	if rec.Source != "websocket" || rec.Headers["Cookie"] != "theme=dark; session=ada" || rec.Headers["X-Client-IP"] != "127.0.0.1" {
		t.Fatalf("connect event: %+v", rec)
	}

	// Without a session the client stays anonymous; a passive client gets its connected frame
	// once the gateway stopped waiting for an auth.
	c = dialWS(t, wsURL(g, ""), nil)
	c.connected()
	c.refused(map[string]any{"op": "subscribe", "topic": "member.news"}, "forbidden")

	// A first frame auth: the function runs after the token is verified, and sees its claims.
	c = dialWS(t, wsURL(g, ""), nil)
	c.sendRaw(`{"id":"a","op":"auth","token":"` + token(t, "u7") + `"}`)
	if f := c.reply(`"a"`); !f.OK {
		t.Fatalf("auth: %+v", f.Error)
	}
	if err := json.Unmarshal(c.connected().Data, &seen); err != nil || seen.Sub != "u7" {
		t.Fatalf("connect after an auth frame saw sub %q (%v)", seen.Sub, err)
	}
	// A token in the URL: the function runs at once, with its claims.
	c = dialWS(t, wsURL(g, "token="+token(t, "u8")), nil)
	if err := json.Unmarshal(c.connected().Data, &seen); err != nil || seen.Sub != "u8" {
		t.Fatalf("connect with a token in the URL saw sub %q (%v)", seen.Sub, err)
	}
	c.mustOK(map[string]any{"op": "subscribe", "topic": "member.news"})

	// Refusals close with the function's status and message; nothing the client sent is handled.
	c = dialWS(t, wsURL(g, ""), cookie("connect=refuse"))
	c.sendRaw(`{"id":1,"op":"publish","topic":"room.r1","data":{"x":1}}`)
	if code := c.closed(10 * time.Second); code != 4003 || c.closeText() != "no entry for this cookie" {
		t.Fatalf("refused connect: close %d %q, want 4003", code, c.closeText())
	}
	c = dialWS(t, wsURL(g, ""), cookie("connect=unauth"))
	if code := c.closed(10 * time.Second); code != 4001 {
		t.Fatalf("unauthorized connect: close %d, want 4001", code)
	}
	// What is not JSON is a failure of the function: 1011.
	c = dialWS(t, wsURL(g, ""), cookie("connect=text"))
	if code := c.closed(10 * time.Second); code != 1011 {
		t.Fatalf("connect answering text: close %d, want 1011", code)
	}
	// A crash closes with 1011 and a generic message; the next connect works.
	c = dialWS(t, wsURL(g, ""), cookie("connect=crash"))
	if code := c.closed(10 * time.Second); code != 1011 || strings.Contains(c.closeText(), "testfn") {
		t.Fatalf("crashing connect: close %d %q, want 1011 and a generic message", code, c.closeText())
	}
	c = dialWS(t, wsURL(g, ""), cookie("session=bob"))
	c.connected()
	c.mustOK(map[string]any{"op": "subscribe", "topic": "member.news"})

	// Nothing a refused client published went out.
	sub := dialWS(t, wsURL(g, ""), nil)
	sub.connected()
	first := sub.mustOK(map[string]any{"op": "subscribe", "topic": "room.r1"})
	if first.Offset != "0" {
		t.Fatalf("room.r1 has publications %s: a refused client's publish went out", first.Offset)
	}
}

func TestWSSubscribeFunction(t *testing.T) {
	g, record := startWSFnGateway(t)
	c := dialWS(t, wsURL(g, ""), cookie("session=ada"))
	c.connected()

	// The initial state comes in the subscribe reply, before any publication.
	pub := dialWS(t, wsURL(g, ""), nil)
	pub.connected()
	pub.mustOK(map[string]any{"op": "publish", "topic": "room.r1", "data": map[string]any{"n": 1}})
	r := c.mustOK(map[string]any{"op": "subscribe", "topic": "room.r1"})
	var state struct {
		Topic, Sub string
		N          int
	}
	if err := json.Unmarshal(r.Data, &state); err != nil || state.Topic != "room.r1" || state.Sub != "ada" || r.Offset != "1" {
		t.Fatalf("subscribe reply: offset %s data %s (%v)", r.Offset, r.Data, err)
	}
	pub.mustOK(map[string]any{"op": "publish", "topic": "room.r1", "data": map[string]any{"n": 2}})
	if p := c.publication(5 * time.Second); p.Offset != "2" || p.seq < r.seq {
		t.Fatalf("first publication after the state: %+v (frame %d, the reply frame %d)", p, p.seq, r.seq)
	}

	// A resume runs the function again: its new state, then what was missed, then live ones.
	c.mustOK(map[string]any{"op": "unsubscribe", "topic": "room.r1"})
	pub.mustOK(map[string]any{"op": "publish", "topic": "room.r1", "data": map[string]any{"n": 3}})
	// The reply and the live publication that follows come in this order on the wire:
	// send the resume and a publish at once.
	c.sendRaw(`{"id":"resume","op":"subscribe","topic":"room.r1","epoch":"` + r.Epoch + `","since":"2"}`)
	pub.mustOK(map[string]any{"op": "publish", "topic": "room.r1", "data": map[string]any{"n": 4}})
	res := c.reply(`"resume"`)
	var again struct{ N int }
	if !res.OK || res.Recovered == nil || !*res.Recovered || json.Unmarshal(res.Data, &again) != nil || again.N <= state.N {
		t.Fatalf("resume: %+v data %s, want recovered and a new state after n=%d", res, res.Data, state.N)
	}
	// Whatever the resume reply held, the rest arrives after it, once each, in order.
	next := 3
	for _, p := range res.Publications {
		if p.Offset != strconv.Itoa(next) {
			t.Fatalf("recovered %s, want %d", p.Offset, next)
		}
		next++
	}
	for next <= 4 {
		if p := c.publication(5 * time.Second); p.Offset != strconv.Itoa(next) || p.seq < res.seq {
			t.Fatalf("publication %s (frame %d), want %d after the reply (frame %d)", p.Offset, p.seq, next, res.seq)
		}
		next++
	}

	// 403 refuses; the rules come first: what they forbid never reaches the function.
	c.refused(map[string]any{"op": "subscribe", "topic": "room.locked"}, "forbidden")
	anon := dialWS(t, wsURL(g, ""), nil)
	anon.connected()
	anon.refused(map[string]any{"op": "subscribe", "topic": "member.secret"}, "forbidden")
	c.mustOK(map[string]any{"op": "subscribe", "topic": "member.open"}) // after it, in order
	subs := awaitWSRecords(t, record, 1, func(r wsRecord) bool {
		return r.Type == "edgefn.ws.subscribe" && strings.HasPrefix(r.Source, "websocket/member.")
	})
	if subs[0].Source != "websocket/member.open" || subs[0].Params["room"] != "open" {
		t.Fatalf("subscribe events for member.*: %+v; member.secret, forbidden by the rules, must not run the function", subs)
	}
}

func TestWSRPC(t *testing.T) {
	g, _ := startWSFnGateway(t)
	c := dialWS(t, wsURL(g, ""), cookie("session=ada"))
	hello := c.connected()

	// 200 calls at once on one connection: each reply carries its call's id and answer.
	const n = 200
	var frames strings.Builder
	for i := range n {
		fmt.Fprintf(&frames, `{"id":"r%d","op":"rpc","method":"t.echo","data":{"i":%d}}`+"\n", i, i)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, f := range strings.Split(strings.TrimSpace(frames.String()), "\n") {
			c.sendRaw(f)
		}
	}()
	for i := range n {
		f := c.reply(`"r` + strconv.Itoa(i) + `"`)
		var body struct {
			Data   struct{ I int }
			Client string
		}
		if !f.OK || json.Unmarshal(f.Data, &body) != nil || body.Data.I != i || body.Client != hello.Client {
			t.Fatalf("reply r%d: ok=%v error=%+v data %s", i, f.OK, f.Error, f.Data)
		}
	}
	wg.Wait()

	// No such method: not_found. A failing function: function_failed with its status.
	c.refused(map[string]any{"op": "rpc", "method": "nobody.home"}, "not_found")
	c.refused(map[string]any{"op": "rpc", "method": "t.nothing"}, "function_failed") // testfn's 404
	f := c.request(map[string]any{"op": "rpc", "method": "t.fail"})
	if f.OK || f.Error.Code != "function_failed" || f.Error.Status != 422 || f.Error.Message != "t.fail fails" {
		t.Fatalf("t.fail: %+v", f.Error)
	}
	c.refused(map[string]any{"op": "rpc", "method": "bad method"}, "bad_request")
	if f := c.mustOK(map[string]any{"op": "rpc", "method": "t.text"}); string(f.Data) != `"plain words"` {
		t.Fatalf("a text body: data %s, want a JSON string", f.Data)
	}

	// A slow call holds neither another connection nor its own connection's other calls.
	c.sendRaw(`{"id":"slow","op":"rpc","method":"t.sleep","data":{"ms":4000}}`)
	start := time.Now()
	if f := c.mustOK(map[string]any{"op": "rpc", "method": "t.echo", "data": 2}); time.Since(start) > 2*time.Second {
		t.Fatalf("a call beside a slow one took %s", time.Since(start))
	} else if f.OK == false {
		t.Fatal("echo failed")
	}
	other := dialWS(t, wsURL(g, ""), nil)
	other.connected()
	other.mustOK(map[string]any{"op": "rpc", "method": "t.echo", "data": 3})
	if time.Since(start) > 3*time.Second {
		t.Fatalf("another connection's call waited for the slow one: %s", time.Since(start))
	}
	if f := c.reply(`"slow"`); !f.OK || string(f.Data) != `{"slept":4000}` {
		t.Fatalf("slow call: %+v %s", f.Error, f.Data)
	}

	// Each event kind is counted apart (docs/observability.md); the invocations count them
	// all under trigger="websocket".
	m := scrape(t, g)
	rpcs := map[string]string{"function": "wsfn", "event": "rpc", "outcome": "success"}
	if v, _ := series(m, "edgefn_ws_function_calls_total", rpcs); v != n+4 {
		t.Errorf("edgefn_ws_function_calls_total%v = %v, want %d", rpcs, v, n+4)
	}
	failed := map[string]string{"function": "wsfn", "event": "rpc", "outcome": "client_error"}
	if v, _ := series(m, "edgefn_ws_function_calls_total", failed); v != 2 {
		t.Errorf("edgefn_ws_function_calls_total%v = %v, want 2", failed, v)
	}
	connects := map[string]string{"function": "wsfn", "event": "connect", "outcome": "success"}
	if v, _ := series(m, "edgefn_ws_function_calls_total", connects); v != 2 {
		t.Errorf("edgefn_ws_function_calls_total%v = %v, want 2", connects, v)
	}
	all := map[string]string{"function": "wsfn", "trigger": "websocket", "outcome": "success"}
	if v, _ := series(m, "edgefn_invocations_total", all); v < n+6 {
		t.Errorf("edgefn_invocations_total%v = %v, want at least %d", all, v, n+6)
	}
}

func TestWSDisconnectFunction(t *testing.T) {
	g, record := startWSFnGateway(t)
	disconnects := func(client string) func(wsRecord) bool {
		return func(r wsRecord) bool { return r.Type == "edgefn.ws.disconnect" && r.Subject == client }
	}
	type closeData struct {
		Code       int
		Reason     string
		DurationMs int64
	}

	// A close by the client.
	c := dialWS(t, wsURL(g, ""), cookie("session=ada"))
	a := c.connected().Client
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"), time.Now().Add(time.Second))
	c.closed(5 * time.Second)
	rec := awaitWSRecords(t, record, 1, disconnects(a))[0]
	var d closeData
	if err := json.Unmarshal(rec.Data, &d); err != nil || d.Code != 1000 || d.Reason != "bye" || rec.Claims["sub"] != "ada" || rec.Source != "websocket" {
		t.Fatalf("disconnect after a close: %+v data %s", rec, rec.Data)
	}

	// A client that just drops its TCP connection.
	c = dialWS(t, wsURL(g, ""), nil)
	b := c.connected().Client
	c.conn.UnderlyingConn().Close()
	rec = awaitWSRecords(t, record, 1, disconnects(b))[0]
	if err := json.Unmarshal(rec.Data, &d); err != nil || d.Code != 1006 || d.DurationMs < 0 {
		t.Fatalf("disconnect after a dropped connection: data %s", rec.Data)
	}

	// A refused client never connected: no disconnect. Its connect is recorded; a later
	// connection's disconnect shows that the records are complete.
	c = dialWS(t, wsURL(g, ""), cookie("connect=refuse"))
	c.closed(5 * time.Second)

	// SIGTERM: the server closes with 1001 and the disconnect runs within the grace period.
	c = dialWS(t, wsURL(g, ""), nil)
	e := c.connected().Client
	g.stop()
	rec = awaitWSRecords(t, record, 1, disconnects(e))[0]
	if err := json.Unmarshal(rec.Data, &d); err != nil || d.Code != 1001 {
		t.Fatalf("disconnect on shutdown: data %s", rec.Data)
	}
	// Once per connection, and none for the refused one.
	all := awaitWSRecords(t, record, 3, func(r wsRecord) bool { return r.Type == "edgefn.ws.disconnect" })
	for _, r := range all {
		if r.Subject != a && r.Subject != b && r.Subject != e {
			t.Fatalf("a disconnect of a connection that was never accepted: %+v", r)
		}
	}
}

// A deploy that would make the function of an rpc method or a connect ambiguous is refused;
// a more specific pattern is not ambiguous.
func TestWSFunctionConflictsRefused(t *testing.T) {
	g, _ := startWSFnGateway(t)
	deploy := func(triggers string) (string, int) {
		m := writeManifest(t, "name: other\nhandler: {{testfn}}\ntriggers:\n"+triggers)
		_, stderr, code := cli(t, g, "deploy", m)
		return stderr, code
	}
	if stderr, code := deploy(`  - websocket: {event: rpc, method: "*.echo"}` + "\n"); code == 0 ||
		!strings.Contains(stderr, "websocket rpc *.echo conflicts with wsfn t.*") {
		t.Fatalf("an equally specific rpc pattern: exit %d\n%s", code, stderr)
	}
	if stderr, code := deploy("  - websocket: {event: connect}\n"); code == 0 ||
		!strings.Contains(stderr, "a second websocket connect function: wsfn") {
		t.Fatalf("a second connect function: exit %d\n%s", code, stderr)
	}
	if stderr, code := deploy("  - websocket: {event: rpc, method: t.echo}\n"); code != 0 {
		t.Fatalf("a more specific rpc pattern: exit %d\n%s", code, stderr)
	}
}
