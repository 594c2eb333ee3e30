package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/edgefn/edgefn/internal/testkit"
)

// errorOf decodes a gateway error body.

// TestHostileInvalidUTF8 sends a publication that is not UTF-8 to a topic by each way there
// is: a client's frame (closed with 1007), the admin API (400) and a function's Notify (the
// call fails with 500 invalid_effect). None reaches the topic: its subscriber stays connected
// and the first publication it gets, and the only one the history holds, is the valid one
// that follows.
func TestHostileInvalidUTF8(t *testing.T) {
	g := startWSGateway(t, "--admin-token", "adm")
	sub := dialWS(t, wsURL(g, ""), nil)
	s := sub.mustOK(map[string]any{"op": "subscribe", "topic": "open.utf8"})

	bad := dialWS(t, wsURL(g, ""), nil)
	bad.sendRaw("{\"id\":1,\"op\":\"publish\",\"topic\":\"open.utf8\",\"data\":{\"text\":\"\xff\xfe\"}}")
	if code := bad.closed(10 * time.Second); code != 1007 {
		t.Fatalf("a client frame that is not UTF-8: close %d (%v), want 1007", code, bad.err())
	}

	r := do(t, "POST", g.URL+"/admin/v1/publish", []byte("{\"topic\":\"open.utf8\",\"data\":{\"text\":\"\xff\xfe\"}}"),
		"Authorization", "Bearer adm", "Content-Type", "application/json")
	if code, msg := errorOf(t, r); r.Status != 400 || code != "bad_request" || msg != "the body is not UTF-8" {
		t.Fatalf("admin publish that is not UTF-8: %d %s, want 400", r.Status, r.Body)
	}

	r = do(t, "POST", g.URL+"/t/notify?topic=open.utf8", []byte("{\"text\":\"\xff\xfe\"}"), "Content-Type", "application/json")
	if code, _ := errorOf(t, r); r.Status != 500 || code != "invalid_effect" {
		t.Fatalf("a function's Notify that is not UTF-8: %d %s, want 500 invalid_effect", r.Status, r.Body)
	}

	notify(t, g, "open.utf8", `{"text":"fine"}`)
	if p := sub.publication(10 * time.Second); p.Offset != "1" || string(p.Data) != `{"text":"fine"}` {
		t.Fatalf("the subscriber's first publication: %+v, want the valid one at offset 1", p)
	}
	sub.mustOK(map[string]any{"op": "ping"})
	h := dialWS(t, wsURL(g, ""), nil).mustOK(map[string]any{"op": "subscribe", "topic": "open.utf8", "epoch": s.Epoch, "since": "0"})
	if h.Recovered == nil || !*h.Recovered || len(h.Publications) != 1 || string(h.Publications[0].Data) != `{"text":"fine"}` {
		t.Fatalf("the topic's history: %+v, want the valid publication alone", h)
	}
	if !strings.Contains(g.logs.String(), "the notification to open.utf8 is not UTF-8") {
		t.Errorf("the gateway did not log why it refused the function's notification")
	}
}

// TestHostileLongTopics: topics are at most 256 bytes, on every way in. A client's 61 KB
// topics are refused on subscribe and publish, and so are longer-than-256 topics in the admin
// API and a function's Notify.
func TestHostileLongTopics(t *testing.T) {
	g := startWSGateway(t, "--admin-token", "adm")
	c := dialWS(t, wsURL(g, ""), nil)
	huge := "open." + strings.Repeat("x", 61<<10)
	over := "open." + strings.Repeat("x", 252) // 257 bytes
	atCap := over[:256]
	for _, topic := range []string{huge, over} {
		for _, op := range []string{"subscribe", "publish"} {
			f := c.request(map[string]any{"op": op, "topic": topic, "data": 1})
			if f.OK || f.Error == nil || f.Error.Code != "bad_request" || f.Error.Message != "topic is longer than 256 bytes" {
				t.Fatalf("%s of a %d-byte topic: %+v %+v, want bad_request", op, len(topic), f.OK, f.Error)
			}
		}
	}
	c.mustOK(map[string]any{"op": "subscribe", "topic": atCap})
	c.mustOK(map[string]any{"op": "publish", "topic": atCap, "data": 1})
	if p := c.publication(10 * time.Second); p.Topic != atCap {
		t.Fatalf("publication on the 256-byte topic: %+v", p)
	}

	for _, topic := range []string{huge, over} {
		body, _ := json.Marshal(map[string]any{"topic": topic, "data": 1})
		r := do(t, "POST", g.URL+"/admin/v1/publish", body, "Authorization", "Bearer adm", "Content-Type", "application/json")
		if code, msg := errorOf(t, r); r.Status != 400 || code != "bad_request" || msg != "invalid publication: topic is longer than 256 bytes" {
			t.Fatalf("admin publish to a %d-byte topic: %d %.300s, want 400", len(topic), r.Status, r.Body)
		}
	}
	r := do(t, "POST", g.URL+"/t/notify?topic="+over, []byte(`{}`), "Content-Type", "application/json")
	if code, _ := errorOf(t, r); r.Status != 500 || code != "invalid_effect" {
		t.Fatalf("a function's Notify to a 257-byte topic: %d %s, want 500 invalid_effect", r.Status, r.Body)
	}
	notify(t, g, atCap, `{"n":2}`)
	if p := c.publication(10 * time.Second); p.Topic != atCap || string(p.Data) != `{"n":2}` {
		t.Fatalf("a function's Notify to the 256-byte topic: %+v", p)
	}
}

// TestHostileRequestsTopics: requests.* carries async replies only. A client publish, an
// admin publish and a function's Notify to it are refused, and an async call's reply topic
// holds its real reply alone.
func TestHostileRequestsTopics(t *testing.T) {
	g := startWSGateway(t, "--admin-token", "adm")
	r := do(t, "POST", g.URL+"/t/echo", []byte(`{"real":true}`), "Prefer", "respond-async", "Content-Type", "application/json")
	var acc struct{ ID, Topic string }
	r.JSON(t, &acc)
	if r.Status != 202 || acc.Topic != "requests."+acc.ID {
		t.Fatalf("async call: %d %s", r.Status, r.Body)
	}
	forged := []byte(`{"id":"` + acc.ID + `","status":"done","statusCode":200,"body":"forged"}`)
	c := dialWS(t, wsURL(g, ""), nil)
	for _, topic := range []string{acc.Topic, "requests.x", "requests.x.y"} {
		f := c.request(map[string]any{"op": "publish", "topic": topic, "data": json.RawMessage(forged)})
		if f.OK || f.Error == nil || f.Error.Code != "forbidden" {
			t.Errorf("client publish to %s: %+v %+v, want forbidden", topic, f.OK, f.Error)
		}
		body, _ := json.Marshal(map[string]any{"topic": topic, "data": json.RawMessage(forged)})
		r := do(t, "POST", g.URL+"/admin/v1/publish", body, "Authorization", "Bearer adm", "Content-Type", "application/json")
		if code, msg := errorOf(t, r); r.Status != 400 || code != "bad_request" || !strings.HasSuffix(msg, "requests.* carries async replies only") {
			t.Errorf("admin publish to %s: %d %s, want 400", topic, r.Status, r.Body)
		}
		r = do(t, "POST", g.URL+"/t/notify?topic="+topic, forged, "Content-Type", "application/json")
		if code, _ := errorOf(t, r); r.Status != 500 || code != "invalid_effect" {
			t.Errorf("a function's Notify to %s: %d %s, want 500 invalid_effect", topic, r.Status, r.Body)
		}
	}
	if w := do(t, "GET", g.URL+"/requests/"+acc.ID+"?wait=10s", nil); w.Status != 200 || string(w.Body) != `{"real":true}` {
		t.Fatalf("the async reply: %d %s", w.Status, w.Body)
	}
	s := c.mustOK(map[string]any{"op": "subscribe", "topic": acc.Topic})
	if len(s.Publications) != 1 || !strings.Contains(string(s.Publications[0].Data), "real") ||
		strings.Contains(string(s.Publications[0].Data), "forged") {
		t.Fatalf("the reply topic's history: %d publications, want the real reply alone: %+v", len(s.Publications), s.Publications)
	}
}

// TestHostileWSConnectionCaps: with --ws-max-conns-per-ip 3 and --ws-max-conns 5, the fourth
// connection of one IP gets 429 and the sixth in all is closed with 1013; a connection that
// ends frees its slot. The clients dial from 127.0.0.1, .2 and .3, all loopback.
func TestHostileWSConnectionCaps(t *testing.T) {
	g := startWSGateway(t, "--ws-max-conns-per-ip", "3", "--ws-max-conns", "5")
	dialFrom := func(ip string) (*websocket.Conn, *http.Response, error) {
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second,
			NetDial: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}).Dial}
		return d.Dial(wsURL(g, ""), nil)
	}
	served := func(ip string) *wsClient {
		t.Helper()
		conn, resp, err := dialFrom(ip)
		if err != nil {
			t.Fatalf("dial from %s: %v (%v)", ip, err, resp)
		}
		c := startWSClient(t, conn)
		c.mustOK(map[string]any{"op": "ping"})
		return c
	}
	var first []*wsClient
	for range 3 {
		first = append(first, served("127.0.0.1"))
	}
	_, resp, err := dialFrom("127.0.0.1")
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("fourth connection of 127.0.0.1: %v %v, want 429", resp, err)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != "rate_limited" ||
		body.Error.Message != "too many WebSocket connections from this client: at most 3" {
		t.Fatalf("the 429's body: %+v %v", body, err)
	}
	served("127.0.0.2")
	served("127.0.0.2")
	conn, _, err := dialFrom("127.0.0.3")
	if err != nil {
		t.Fatalf("sixth connection: %v, want an upgrade and then 1013", err)
	}
	if code := startWSClient(t, conn).closed(10 * time.Second); code != 1013 {
		t.Fatalf("sixth connection in all: close %d, want 1013", code)
	}
	// A connection that ends gives its slot back, to its own IP and to the total.
	first[0].conn.Close()
	testkit.Eventually(t, 10*time.Second, "a connection from 127.0.0.3 to be served", func() bool {
		conn, _, err := dialFrom("127.0.0.3")
		if err != nil {
			return false
		}
		defer conn.Close()
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"op":"ping"}`)); err != nil {
			return false
		}
		_, frame, err := conn.ReadMessage() // a close frame (1013) is an error
		return err == nil && string(frame) == `{"id":1,"ok":true}`
	})
	for _, c := range first[1:] {
		c.mustOK(map[string]any{"op": "ping"})
	}
}

// TestHostileErrorBodies: a request fasthttp cannot parse gets 400 with a fixed message; its
// body repeats nothing of the request (markup, another header's cookie).
func TestHostileErrorBodies(t *testing.T) {
	g := startWSGateway(t)
	const markup, cookie = "<script>alert(1)</script>", "session=SECRET-COOKIE-VALUE"
	for name, req := range map[string]string{
		"garbage request line": "GET /" + markup + " NOT-HTTP\r\nHost: h\r\nCookie: " + cookie + "\r\n\r\n",
		"bad Content-Length": "POST /t/echo HTTP/1.1\r\nHost: h\r\nCookie: " + cookie + "\r\nContent-Length: 12" + markup +
			"\r\nConnection: close\r\n\r\n",
	} {
		status, raw := rawHTTP(t, g.Addr, []byte(req))
		_, body, _ := strings.Cut(raw, "\r\n\r\n")
		if status != 400 || !strings.Contains(body, `"message":"malformed HTTP request"`) {
			t.Errorf("%s: %d, want 400 malformed HTTP request:\n%.600s", name, status, raw)
		}
		for _, echo := range []string{"script", "SECRET-COOKIE", "alert"} {
			if strings.Contains(raw, echo) {
				t.Errorf("%s: the answer repeats %q of the request:\n%.600s", name, echo, raw)
			}
		}
	}
	// The gateway still serves.
	if r := do(t, "POST", g.URL+"/t/echo", []byte("ok")); r.Status != 200 || string(r.Body) != "ok" {
		t.Fatalf("after the malformed requests: %d %s", r.Status, r.Body)
	}
}

// TestHostileWSTokens: a WebSocket token issued in the future, or with a crit header, closes
// the connection with 4001, as HTTP answers it 401 (TestJWTRoutes).
func TestHostileWSTokens(t *testing.T) {
	g := startWSGateway(t)
	future := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1",
		"iat": time.Now().Add(time.Hour).Unix(), "exp": time.Now().Add(2 * time.Hour).Unix()})
	crit := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()})
	crit.Header["crit"] = []string{"b64"}
	for name, tok := range map[string]*jwt.Token{"iat in the future": future, "crit": crit} {
		s, err := tok.SignedString([]byte(wsSecret))
		if err != nil {
			t.Fatal(err)
		}
		c := dialWS(t, wsURL(g, ""), nil)
		c.sendRaw(`{"id":"a","op":"auth","token":"` + s + `"}`)
		if f := c.reply(`"a"`); f.OK || f.Error == nil || f.Error.Code != "unauthorized" {
			t.Errorf("%s: %+v %+v, want unauthorized", name, f.OK, f.Error)
		}
		if code := c.closed(10 * time.Second); code != 4001 {
			t.Errorf("%s: close %d, want 4001", name, code)
		}
	}
}
