package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/gateway/auth/authtest"
	"github.com/edgefn/edgefn/internal/doctest"
)

// The reference in docs/ shows HTTP and WebSocket exchanges with the functions `make run`
// serves. TestDocsExchanges makes every exchange of every page against a real gateway and
// checks that the answers are the ones shown, so that the pages cannot drift from the code.
//
// A page's blocks marked <!-- test: http --> hold one request and its expected response,
// written as HTTP/1.1 messages; blocks marked <!-- test: ws --> hold frames a client sends
// (→) and frames it must receive (←), those of a run of ← lines in any order. In expected
// text, <name> matches any value and binds it; a later <name> (also in what is sent) is that
// value. <token> is bound beforehand to a JWT of subject "ada" the gateway accepts, and
// <admin> to the gateway's admin token. A block
// marked <!-- test: metrics --> lists metric names that must be exactly the edgefn_ families
// that /metrics serves after the page's other exchanges.

const docsSecret = "docs-e2e-secret-of-32-bytes-long!"

// docsPages are the pages with exchanges; each runs against a gateway of its own.
var docsPages = []string{"http.md", "websocket.md", "async.md", "observability.md", "cluster.md", "securing.md"}

func TestDocsExchanges(t *testing.T) {
	for _, page := range docsPages {
		t.Run(page, func(t *testing.T) {
			blocks := docBlocks(t, filepath.Join(bins.repoDir, "docs", page))
			if len(blocks) == 0 {
				t.Fatalf("%s has no exchange to run", page)
			}
			g := startGateway(t, "", append(makeRunManifests(t), "--jwt-secret", docsSecret)...)
			x := &exchange{t: t, g: g, vars: map[string]string{
				"token": authtest.HS256(t, docsSecret, map[string]any{"sub": "ada"}),
				"admin": g.AdminToken,
			}}
			for _, b := range blocks {
				t.Logf("%s:%d: %s", page, b.line, b.kind)
				switch b.kind {
				case "http":
					x.http(b)
				case "ws":
					x.ws(b)
				case "metrics":
					x.metrics(b)
				}
			}
		})
	}
}

// makeRunManifests writes the manifests of manifests/ with their handlers replaced by the
// plugins the tests built; functions of which no plugin was built (the queue worker and the
// stream reader) run echo, which succeeds on anything. It returns --manifests flags.
func makeRunManifests(t *testing.T) []string {
	t.Helper()
	built := map[string]string{"hello": bins.hello, "echo": bins.echo, "notify": bins.notify}
	handlerRE := regexp.MustCompile(`(?m)^handler: \.\./bin/functions/([a-z-]+)$`)
	files, err := filepath.Glob(filepath.Join(bins.repoDir, "manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	dir := t.TempDir()
	var args []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = handlerRE.ReplaceAllFunc(data, func(m []byte) []byte {
			name := string(handlerRE.FindSubmatch(m)[1])
			bin, ok := built[name]
			if !ok {
				bin = bins.echo
			}
			return []byte("handler: " + bin)
		})
		out := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(out, data, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--manifests", out)
	}
	return args
}

// docBlock is a marked code block of a page.
type docBlock struct {
	kind string
	line int
	text string
}

// docBlocks returns the blocks of page marked for this test (http, ws or metrics), in page
// order, each text without its last newline.
func docBlocks(t *testing.T, page string) []docBlock {
	t.Helper()
	var out []docBlock
	for _, b := range doctest.Blocks(t, page) {
		switch b.Marker {
		case "http", "ws", "metrics":
			out = append(out, docBlock{kind: b.Marker, line: b.Line, text: strings.TrimSuffix(b.Text, "\n")})
		}
	}
	return out
}

// exchange runs the blocks of one page: one gateway, one WebSocket connection (opened by
// the first ws block), and the values bound so far.
type exchange struct {
	t      *testing.T
	g      *gateway
	vars   map[string]string
	conn   *websocket.Conn
	frames chan []byte
	held   [][]byte // frames read but not matched yet
}

// http sends the request of b and checks the response against it.
func (x *exchange) http(b docBlock) {
	t := x.t
	t.Helper()
	req, resp, ok := strings.Cut(b.text, "\nHTTP/1.1 ")
	if !ok {
		t.Fatalf("line %d: no HTTP/1.1 response in the block", b.line)
	}
	method, target, headers, body := parseMessage(t, b.line, x.subst(req))
	if !strings.HasSuffix(target, " HTTP/1.1") {
		t.Fatalf("line %d: request line %q does not end in HTTP/1.1", b.line, method+" "+target)
	}
	target = strings.TrimSuffix(target, " HTTP/1.1")
	var hs []string
	for _, h := range headers {
		hs = append(hs, h[0], h[1])
	}
	var reqBody []byte
	if body != "" {
		reqBody = []byte(body)
	}
	got := do(t, method, x.g.URL+target, reqBody, hs...)
	_, status, wantHeaders, wantBody := parseMessage(t, b.line, "HTTP/1.1 "+resp)
	if code, _, _ := strings.Cut(status, " "); code != strconv.Itoa(got.Status) {
		t.Fatalf("line %d: %s %s: status %d, the page shows %s\n%s", b.line, method, target, got.Status, status, got.Body)
	}
	for _, h := range wantHeaders {
		v := got.Header.Get(h[0])
		if !x.match(h[1], v) {
			t.Fatalf("line %d: %s %s: header %s is %q, the page shows %q", b.line, method, target, h[0], v, h[1])
		}
	}
	if wantBody != "" && !x.matchBody(wantBody, got.Body) {
		t.Fatalf("line %d: %s %s: body\n%s\nthe page shows\n%s", b.line, method, target, got.Body, wantBody)
	}
}

// parseMessage splits an HTTP message written on the page into its first line (as two parts
// at the first space), its headers and its body.
func parseMessage(t *testing.T, line int, msg string) (first, rest string, headers [][2]string, body string) {
	t.Helper()
	head, body, _ := strings.Cut(strings.Trim(msg, "\n")+"\n", "\n\n")
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	first, rest, _ = strings.Cut(lines[0], " ")
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("line %d: bad header line %q", line, l)
		}
		headers = append(headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return first, rest, headers, strings.TrimSpace(body)
}

// ws makes the WebSocket exchange of b.
func (x *exchange) ws(b docBlock) {
	t := x.t
	t.Helper()
	if x.conn == nil {
		conn, _, err := websocket.DefaultDialer.Dial("ws://"+x.g.Addr+"/ws", nil)
		if err != nil {
			t.Fatalf("line %d: dial: %v", b.line, err)
		}
		t.Cleanup(func() { conn.Close() })
		x.conn, x.frames = conn, make(chan []byte, 1024)
		go func() {
			defer close(x.frames)
			for {
				_, data, err := conn.ReadMessage()
				if err != nil {
					return
				}
				x.frames <- data
			}
		}()
	}
	var want []string // a run of ← lines not matched yet
	flush := func() {
		if len(want) > 0 {
			x.receive(b.line, want)
			want = nil
		}
	}
	for _, l := range strings.Split(b.text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "→"):
			flush()
			frame := firstJSON(t, b.line, x.subst(strings.TrimSpace(strings.TrimPrefix(l, "→"))))
			if err := x.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				t.Fatalf("line %d: write: %v", b.line, err)
			}
		case strings.HasPrefix(l, "←"):
			want = append(want, string(firstJSON(t, b.line, strings.TrimSpace(strings.TrimPrefix(l, "←")))))
		}
	}
	flush()
}

// firstJSON returns the JSON value that s starts with; what follows it is a comment.
func firstJSON(t *testing.T, line int, s string) []byte {
	t.Helper()
	var v json.RawMessage
	if err := json.NewDecoder(strings.NewReader(s)).Decode(&v); err != nil {
		t.Fatalf("line %d: %q is not JSON: %v", line, s, err)
	}
	return v
}

// receive waits for frames matching every one of want, in any order.
func (x *exchange) receive(line int, want []string) {
	t := x.t
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		for i := 0; i < len(x.held) && len(want) > 0; i++ {
			for j, w := range want {
				if x.matchBody(w, x.held[i]) {
					x.held = slices.Delete(x.held, i, i+1)
					want = slices.Delete(want, j, j+1)
					i--
					break
				}
			}
		}
		if len(want) == 0 {
			break
		}
		select {
		case f, ok := <-x.frames:
			if !ok {
				t.Fatalf("line %d: the connection closed while waiting for %s", line, want)
			}
			x.held = append(x.held, f)
		case <-deadline:
			t.Fatalf("line %d: waiting for %s; received instead %s", line, want, bytes.Join(x.held, []byte("\n")))
		}
	}
}

// metrics checks that the edgefn_ metric families of /metrics are the names of b.
func (x *exchange) metrics(b docBlock) {
	t := x.t
	t.Helper()
	var want []string
	for _, l := range strings.Split(b.text, "\n") {
		if name, _, _ := strings.Cut(strings.TrimSpace(l), "{"); strings.HasPrefix(name, "edgefn_") {
			want = append(want, strings.TrimSpace(name))
		}
	}
	slices.Sort(want)
	// Some families appear only once their kind of work has happened (the first run of the
	// clock's schedule): wait for the list, with a deadline.
	var got []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		got = metricFamilies(t, x.g.URL)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("line %d: /metrics serves\n%s\nthe page lists\n%s", b.line, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// metricFamilies is the sorted names of the edgefn_ families that url's /metrics serves.
func metricFamilies(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "edgefn_") {
			got = append(got, f[2])
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	slices.Sort(got)
	return got
}

var placeholderRE = regexp.MustCompile(`<([A-Za-z][A-Za-z0-9_]*)>`)

// subst replaces the bound placeholders of s by their values.
func (x *exchange) subst(s string) string {
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := x.vars[m[1:len(m)-1]]; ok {
			return v
		}
		x.t.Fatalf("placeholder %s is used before it is bound", m)
		return m
	})
}

// matchBody matches got with the expected body: as JSON when it is JSON (the same keys, the
// same values, placeholders in strings), else as text.
func (x *exchange) matchBody(want string, got []byte) bool {
	var w, g any
	if json.Unmarshal([]byte(want), &w) != nil {
		return x.match(want, strings.TrimSpace(string(got)))
	}
	if json.Unmarshal(got, &g) != nil {
		return false
	}
	saved := make(map[string]string, len(x.vars))
	for k, v := range x.vars {
		saved[k] = v
	}
	if !x.matchJSON(w, g) {
		x.vars = saved // a failed match binds nothing
		return false
	}
	return true
}

func (x *exchange) matchJSON(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !x.matchJSON(wv, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !x.matchJSON(w[i], g[i]) {
				return false
			}
		}
		return true
	case string:
		if m := placeholderRE.FindStringSubmatch(w); m != nil && m[0] == w {
			// A whole-value placeholder matches any value.
			text, ok := got.(string)
			if !ok {
				b, _ := json.Marshal(got)
				text = string(b)
			}
			return x.match(w, text)
		}
		g, ok := got.(string)
		return ok && x.match(w, g)
	default:
		return fmt.Sprint(want) == fmt.Sprint(got)
	}
}

// match matches the text got with the pattern want, binding its unbound placeholders.
func (x *exchange) match(want, got string) bool {
	var re strings.Builder
	re.WriteString("^")
	var names []string
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(want, -1) {
		re.WriteString(regexp.QuoteMeta(want[last:m[0]]))
		name := want[m[2]:m[3]]
		if v, ok := x.vars[name]; ok {
			re.WriteString(regexp.QuoteMeta(v))
		} else {
			re.WriteString("(.+?)")
			names = append(names, name)
		}
		last = m[1]
	}
	re.WriteString(regexp.QuoteMeta(want[last:]))
	re.WriteString("$")
	m := regexp.MustCompile(re.String()).FindStringSubmatch(got)
	if m == nil {
		return false
	}
	bound := map[string]string{}
	for i, name := range names {
		if v, dup := bound[name]; dup && v != m[i+1] {
			return false // the same name twice must be the same value
		}
		bound[name] = m[i+1]
	}
	for name, v := range bound {
		x.vars[name] = v
	}
	return true
}
