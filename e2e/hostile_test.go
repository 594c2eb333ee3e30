package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/gateway/auth/authtest"
	"github.com/edgefn/edgefn/internal/testkit"
)

// hostileManifest binds testfn to HTTP (sync, async and jwt routes) and to client publishes on
// open.*, so that hostile WebSocket frames reach a function too.
const hostileManifest = `
kind: topics
rules:
  - match: open.*
    subscribe: 'true'
    publish: 'true'
---
name: t
handler: {{testfn}}
triggers:
  - http: {method: GET, path: "/t/{op}"}
  - http: {method: POST, path: "/t/{op}"}
  - http: {method: GET, path: "/secure/{op}", auth: jwt}
  - websocket: {topic: "open.*"}
`

const hostileSecret = "hostile-secret-of-32-bytes-or-so"

// rawHTTP writes req on a fresh connection and reads until the server closes it or 15s pass;
// it returns the status of the first response (0 when there was none) and everything read.
func rawHTTP(t *testing.T, addr string, req []byte) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write(req); err != nil {
		t.Fatalf("write: %v", err)
	}
	out, _ := io.ReadAll(conn) // a reset after the answer is fine: what came is kept
	return statusOf(out), string(out)
}

func statusOf(raw []byte) int {
	line, _, _ := bytes.Cut(raw, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// slowHTTP writes head, then trickles body one byte every 300ms; it reports how the gateway
// ended the exchange: the status it answered with (0 for none) and whether it closed the
// connection before the trickle was done (the trickle alone would take far longer than the
// read timeout).
func slowHTTP(t *testing.T, addr, head string, trickle int) (status int, cut bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	read := make(chan []byte, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		b, _ := io.ReadAll(conn)
		read <- b
	}()
	for i := 0; i < trickle; i++ {
		select {
		case b := <-read:
			return statusOf(b), true
		case <-time.After(300 * time.Millisecond):
		}
		if _, err := conn.Write([]byte("x")); err != nil {
			b := <-read
			return statusOf(b), true
		}
	}
	return 0, false
}

// goroutines reads the gateway's goroutine count from the admin API.
func goroutines(t *testing.T, g *gateway) int {
	t.Helper()
	r := do(t, "GET", g.URL+"/admin/v1/debug/goroutines", nil, "Authorization", "Bearer adm")
	var body struct{ Goroutines int }
	r.JSON(t, &body)
	if r.Status != 200 || body.Goroutines == 0 {
		t.Fatalf("goroutines: %d %s", r.Status, r.Body)
	}
	return body.Goroutines
}

// TestHostileInput throws hostile HTTP requests and WebSocket frames at one gateway. Each gets
// a clear 4xx (or, for WebSockets, an error reply or a documented close code); afterwards the
// gateway still serves, and its goroutine count comes back to where it was.
func TestHostileInput(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, hostileManifest), "--admin-token", "adm",
		"--jwt-secret", hostileSecret, "--body-limit", "1MiB", "--read-timeout", "2s")
	healthy := func() {
		t.Helper()
		if r := do(t, "POST", g.URL+"/t/echo", []byte("still here")); r.Status != 200 || string(r.Body) != "still here" {
			t.Fatalf("the gateway stopped serving: %d %s", r.Status, r.Body)
		}
	}
	healthy()
	// Warm up what every exchange below uses (a connection, a WebSocket), then count.
	dialWS(t, wsURL(g, ""), nil).mustOK(map[string]any{"op": "ping"})
	client.CloseIdleConnections()
	before := goroutines(t, g)

	// Every request asks for the connection to close, so that rawHTTP's read ends with the
	// answer.
	host := "Host: " + g.Addr + "\r\nConnection: close\r\n"
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"u","exp":9999999999}`)) + "."
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

	t.Run("http", func(t *testing.T) {
		tests := []struct {
			name string
			req  string
			want int
		}{
			{"oversized header", "GET /t/info HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 32<<10) + "\r\n\r\n", 431},
			{"thousands of headers", "GET /t/info HTTP/1.1\r\n" + host + strings.Repeat("X-A: b\r\n", 4000) + "\r\n", 431},
			{"oversized body", "POST /t/echo HTTP/1.1\r\n" + host + "Content-Length: 2097152\r\n\r\n" + strings.Repeat("a", 2<<20), 413},
			{"oversized chunked body", "POST /t/echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n" +
				strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("a", 64<<10)), 20) + "0\r\n\r\n", 413},
			{"huge Content-Length", "POST /t/echo HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999\r\n\r\n", 400},
			{"two Content-Lengths", "POST /t/echo HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
			{"garbage request line", "\x16\x03\x01\x02\x00 NOT HTTP\r\n\r\n", 400},
			{"invalid UTF-8 in the path", "GET /t/\xff\xfe HTTP/1.1\r\n" + host + "\r\n", 404},
			{"encoded invalid UTF-8 in the path", "GET /t/%ff%fe%00 HTTP/1.1\r\n" + host + "\r\n", 404},
			{"dot-dot into the admin API", "GET /t/../admin/v1/functions HTTP/1.1\r\n" + host + "\r\n", 404},
			{"encoded dot-dot into the admin API", "GET /t/..%2f..%2fadmin%2fv1%2ffunctions HTTP/1.1\r\n" + host + "\r\n", 404},
			{"path traversal in an admin name", "PUT /admin/v1/functions/..%2f..%2fx HTTP/1.1\r\n" + host +
				"Authorization: Bearer adm\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 8\r\n\r\n--b--\r\n\r\n", 400},
			{"invalid UTF-8 JSON to the admin API", "POST /admin/v1/publish HTTP/1.1\r\n" + host +
				"Authorization: Bearer adm\r\nContent-Length: 5\r\n\r\n{\"\xff\":", 400},
			{"deeply nested JSON to the admin API", "POST /admin/v1/publish HTTP/1.1\r\n" + host +
				"Authorization: Bearer adm\r\nContent-Length: 40000\r\n\r\n" + deep(20000), 400},
			{"alg none", "GET /secure/info HTTP/1.1\r\n" + host + "Authorization: Bearer " + algNone + "\r\n\r\n", 401},
			{"token of another secret", "GET /secure/info HTTP/1.1\r\n" + host + "Authorization: Bearer " +
				authtest.HS256(t, "not-the-secret-of-this-gateway!!", map[string]any{"sub": "u"}) + "\r\n\r\n", 401},
			{"NUL in a header value", "GET /t/info HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", 400},
			{"escape sequence in a header value", "GET /t/info HTTP/1.1\r\n" + host + "X-A: \x1b[31mred\r\n\r\n", 400},
			{"header name with a space", "GET /t/info HTTP/1.1\r\n" + host + "X A: b\r\n\r\n", 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, raw := rawHTTP(t, g.Addr, []byte(tt.req))
				if status != tt.want {
					t.Fatalf("status %d, want %d; answer:\n%.600s", status, tt.want, raw)
				}
				if _, body, _ := strings.Cut(raw, "\r\n\r\n"); !strings.Contains(body, `"error"`) {
					t.Fatalf("no JSON error body:\n%.600s", raw)
				}
			})
		}
	})

	t.Run("deeply nested JSON to an async request", func(t *testing.T) {
		// The gateway does not parse a call's body: the function gets it as it came, by
		// way of the queue, and answers it (echo).
		body := []byte(deep(100_000))
		r := do(t, "POST", g.URL+"/t/echo", body, "Prefer", "respond-async", "Content-Type", "application/json")
		if r.Status != 202 {
			t.Fatalf("async call: %d %s", r.Status, r.Body)
		}
		loc := r.Header.Get("Location")
		var reply response
		testkit.Eventually(t, 30*time.Second, "the async reply", func() bool {
			reply = do(t, "GET", g.URL+loc, nil)
			return reply.Status != 202
		})
		if reply.Status != 200 || !bytes.Equal(reply.Body, body) {
			t.Fatalf("async reply: %d %.200s", reply.Status, reply.Body)
		}
	})

	t.Run("slow body", func(t *testing.T) {
		status, cut := slowHTTP(t, g.Addr, "POST /t/echo HTTP/1.1\r\n"+host+"Content-Length: 100\r\n\r\n", 100)
		if !cut {
			t.Fatal("a body trickled over 30s was not cut by the 2s read timeout")
		}
		if status != 0 && (status < 400 || status >= 500) {
			t.Fatalf("slow body answered %d, want a 4xx or a closed connection", status)
		}
	})

	t.Run("slow headers", func(t *testing.T) {
		status, cut := slowHTTP(t, g.Addr, "GET /t/info HTTP/1.1\r\n"+host+"X-Slow: ", 100)
		if !cut {
			t.Fatal("headers trickled over 30s were not cut by the 2s read timeout")
		}
		if status != 0 && (status < 400 || status >= 500) {
			t.Fatalf("slow headers answered %d, want a 4xx or a closed connection", status)
		}
	})

	t.Run("header injection from the function", func(t *testing.T) {
		status, raw := rawHTTP(t, g.Addr, []byte("GET /t/hostile-headers HTTP/1.1\r\n"+host+"Connection: close\r\n\r\n"))
		if status != 200 {
			t.Fatalf("status %d:\n%s", status, raw)
		}
		head, body, _ := strings.Cut(raw, "\r\n\r\n")
		if body != "hostile" {
			t.Fatalf("body %q, want hostile (framing intact)", body)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
		if err != nil {
			t.Fatalf("the response does not parse: %v\n%s", err, raw)
		}
		for _, h := range []string{"Set-Cookie", "X-Split", "X-Evil", "X-Injected", "X-Lf", "X-Nul", "X-Del", "Bad Name", "Transfer-Encoding"} {
			if v := resp.Header.Values(h); len(v) > 0 {
				t.Errorf("header %s reached the client: %q\n%s", h, v, head)
			}
		}
		if resp.Header.Get("X-Ok") != "fine" || resp.Header.Get("X-Tab") != "a\tb" {
			t.Errorf("the sane headers were lost:\n%s", head)
		}
		if resp.Header.Get("X-Request-Id") == "forged" || resp.Header.Get("Content-Length") != "7" {
			t.Errorf("the function set the gateway's own headers:\n%s", head)
		}
	})

	t.Run("websocket", func(t *testing.T) {
		// Invalid tokens: closed with 4001.
		for name, tok := range map[string]string{
			"alg none": algNone, "garbage": "not.a.jwt", "invalid UTF-8": "%ff%fe.%00.x",
			"expired": authtest.ExpiredHS256(t, hostileSecret, map[string]any{"sub": "u"}),
		} {
			c := dialWS(t, wsURL(g, "token="+tok), nil)
			if code := c.closed(10 * time.Second); code != 4001 {
				t.Errorf("%s token: close %d (%v), want 4001", name, code, c.err())
			}
		}
		// Hostile frames each get an error reply, and the connection goes on.
		conn, _, err := websocket.DefaultDialer.Dial(wsURL(g, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		frames := []struct{ name, frame, code string }{
			{"deeply nested JSON", `{"id":"d","op":"publish","topic":"open.x","data":` + deep(30_000) + `}`, "bad_request"},
			{"not an object", deep(20), "bad_request"},
			{"unknown op", `{"id":"o","op":"` + strings.Repeat("x", 1000) + `"}`, "unknown_op"},
			{"topic with a NUL", "{\"id\":\"n\",\"op\":\"subscribe\",\"topic\":\"open.\\u0000\"}", "bad_request"},
			{"huge id", `{"id":"` + strings.Repeat("i", 1000) + `","op":"ping"}`, "bad_request"},
		}
		for _, f := range frames {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, []byte(f.frame)); err != nil {
				t.Fatalf("%s: write: %v", f.name, err)
			}
			_, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("%s: no reply, the connection ended: %v", f.name, err)
			}
			var rep wsFrame
			if err := json.Unmarshal(data, &rep); err != nil || rep.OK || rep.Error == nil {
				t.Fatalf("%s: reply %q, want an error", f.name, data)
			}
			if rep.Error.Code != f.code {
				t.Errorf("%s: error %+v, want %s", f.name, rep.Error, f.code)
			}
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"id":"p","op":"ping"}`)); err != nil {
			_, data, rerr := conn.ReadMessage()
			t.Fatalf("ping: %v; then read %q %v", err, data, rerr)
		}
		if _, data, err := conn.ReadMessage(); err != nil || !strings.Contains(string(data), `"ok":true`) {
			t.Fatalf("ping after the hostile frames: %q %v", data, err)
		}
		// A text frame that is not UTF-8 closes with 1007, whatever it holds.
		for name, frame := range map[string]string{
			"invalid UTF-8 in JSON":      "{\"id\":\"u\",\"op\":\"\xff\xfe\"}",
			"invalid UTF-8 outside JSON": "\xff\xfe\xfd",
			"invalid UTF-8 in a publish": "{\"id\":\"p\",\"op\":\"publish\",\"topic\":\"open.x\",\"data\":\"\xc0\xaf\"}",
		} {
			c := dialWS(t, wsURL(g, ""), nil)
			c.sendRaw(frame)
			if code := c.closed(10 * time.Second); code != 1007 {
				t.Errorf("%s: close %d (%v), want 1007", name, code, c.err())
			}
		}
		// A frame over the limit closes with 1009; a binary frame with 4400.
		// The gateway stops reading at the limit and closes; the unread rest of the frame makes
		// the close a TCP reset, which may overtake the close frame: the client sees 1009 or
		// a reset, never a reply.
		big := dialWS(t, wsURL(g, ""), nil)
		big.writeMu.Lock()
		_ = big.conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"publish","topic":"open.x","data":"`+strings.Repeat("a", 128<<10)+`"}`))
		big.writeMu.Unlock()
		if code := big.closed(10 * time.Second); code != 1009 && code != 0 {
			t.Errorf("oversized frame: close %d (%v), want 1009", code, big.err())
		}
		bin := dialWS(t, wsURL(g, ""), nil)
		bin.writeMu.Lock()
		_ = bin.conn.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0x00})
		bin.writeMu.Unlock()
		if code := bin.closed(10 * time.Second); code != 4400 {
			t.Errorf("binary frame: close %d, want 4400", code)
		}
		// Not an upgrade: 426.
		if r := do(t, "GET", g.URL+"/ws", nil); r.Status != 426 {
			t.Errorf("GET /ws without an upgrade: %d", r.Status)
		}
	})

	healthy()
	client.CloseIdleConnections()
	// Goroutines: back to (about) the count before. A few are allowed for the idle workers of
	// the HTTP server and connections still closing; a leak per case would be dozens.
	var after int
	testkit.Eventually(t, 30*time.Second, "the goroutine count to come back", func() bool {
		after = goroutines(t, g)
		return after <= before+5
	})
	t.Logf("goroutines: %d before, %d after", before, after)
	select {
	case <-g.done:
		t.Fatalf("the gateway exited: %v", g.exitErr)
	default:
	}
}

// A request framed both by Content-Length and by Transfer-Encoding gets 400 and its connection
// closes, whichever header comes first: what follows it on the connection, which a proxy may
// have framed otherwise, never runs as a request of its own.
func TestContentLengthWithTransferEncodingIsRefused(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: hello
handler: {{hello}}
triggers:
  - http: {method: ANY, path: "/hello/{name}"}
`))
	smuggled := "GET /hello/smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
	for _, headers := range []string{
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
		"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
	} {
		req := "POST /hello/x HTTP/1.1\r\nHost: h\r\n" + headers + "\r\n0\r\n\r\n" + smuggled
		status, out := rawHTTP(t, g.Addr, []byte(req))
		if status != 400 {
			t.Errorf("%q: status %d, want 400\n%s", headers, status, out)
		}
		if n := strings.Count(out, "HTTP/1.1 "); n != 1 || strings.Contains(out, "smuggled") {
			t.Errorf("%q: %d responses, want the 400 alone:\n%s", headers, n, out)
		}
	}
	// The same request with one framing header is served, and so is the one after it.
	status, out := rawHTTP(t, g.Addr, []byte("POST /hello/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+
		"GET /hello/next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
	if status != 200 || !strings.Contains(out, "hello, next") {
		t.Errorf("chunked alone: status %d, want 200 and the next request served:\n%s", status, out)
	}
}
