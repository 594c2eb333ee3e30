package guard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

func TestParseRate(t *testing.T) {
	good := []struct {
		spec  string
		burst int
		limit float64
		want  int
	}{
		{"100/s", 0, 100, 100},
		{"100/s", 250, 100, 250},
		{"600/m", 0, 10, 600},
		{"5/250ms", 0, 20, 5},
		{"0.5/s", 0, 0.5, 1},
		{"3600/h", 2, 1, 2},
	}
	for _, g := range good {
		r, err := ParseRate(g.spec, g.burst)
		if err != nil || float64(r.Limit) != g.limit || r.Burst != g.want {
			t.Errorf("ParseRate(%q, %d) = %+v, %v; want %v/s burst %d", g.spec, g.burst, r, err, g.limit, g.want)
		}
	}
	if r, err := ParseRate("", 0); err != nil || r.Enabled() {
		t.Errorf("empty spec: %+v, %v; want no limit", r, err)
	}
	for _, bad := range []string{"100", "x/s", "-1/s", "0/s", "10/fortnight", "10/-1s", "Inf/s", "NaN/s"} {
		if _, err := ParseRate(bad, 0); err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("ParseRate(%q): %v, want an error naming the rate", bad, err)
		}
	}
	if _, err := ParseRate("1/s", -1); err == nil {
		t.Error("negative burst accepted")
	}
}

// fakeClock is a limiter clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newTestLimiter(t *testing.T, spec string, burst, maxClients int) (*Limiter, *fakeClock) {
	t.Helper()
	r, err := ParseRate(spec, burst)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLimiter(r, maxClients)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	l.now, l.lastSweep = clock.now, clock.t
	return l, clock
}

func TestLimiterPerClient(t *testing.T) {
	l, clock := newTestLimiter(t, "2/s", 3, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for i := range 3 {
		if ok, _ := l.Allow(a); !ok {
			t.Fatalf("call %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow(a)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("call past the burst: ok=%v wait=%v, want refused with a wait of at most 500ms", ok, wait)
	}
	// Another client has its own bucket.
	if ok, _ := l.Allow(b); !ok {
		t.Fatal("a second client was refused")
	}
	// A refused call takes no token: after the wait there is one.
	clock.add(wait)
	if ok, _ := l.Allow(a); !ok {
		t.Fatal("refused after waiting Retry-After")
	}
}

func TestLimiterTableBounded(t *testing.T) {
	l, clock := newTestLimiter(t, "1/s", 1, 50)
	for i := range 1000 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if ok, _ := l.Allow(ip); !ok {
			t.Fatalf("new client %v refused", ip)
		}
		if n := l.Len(); n > 50 {
			t.Fatalf("table holds %d clients, bound is 50", n)
		}
	}
	// Idle entries expire: after the refill time, the next call sweeps them.
	clock.add(2 * time.Second)
	l.Allow(netip.MustParseAddr("192.0.2.9"))
	if n := l.Len(); n != 1 {
		t.Fatalf("%d clients after they all went idle, want 1", n)
	}
}

func TestClientIP(t *testing.T) {
	r, err := NewClientIP([]string{"10.0.0.0/8", "::1", " 192.0.2.7 "})
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("10.1.2.3")
	tests := []struct {
		hops []string
		want string
	}{
		{nil, "10.1.2.3"},
		{[]string{"203.0.113.5"}, "203.0.113.5"},
		// A client that forges a hop cannot hide behind it: the rightmost untrusted hop wins.
		{[]string{"1.2.3.4", "203.0.113.5"}, "203.0.113.5"},
		{[]string{"203.0.113.5", "10.9.9.9", " 192.0.2.7"}, "203.0.113.5"},
		{[]string{"10.2.2.2", "10.3.3.3"}, "10.2.2.2"},
		{[]string{"203.0.113.5", "garbage"}, "10.1.2.3"},
		{[]string{"::ffff:203.0.113.5"}, "203.0.113.5"},
	}
	for _, tt := range tests {
		if got := r.fromHops(peer, tt.hops); got.String() != tt.want {
			t.Errorf("hops %q: client %v, want %s", tt.hops, got, tt.want)
		}
	}
	if _, err := NewClientIP([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad prefix accepted")
	}
	if _, err := NewClientIP([]string{"proxy.example"}); err == nil {
		t.Error("host name accepted")
	}
}

// serveApp runs app on a real listener (remote addresses are real) and returns its URL.
func serveApp(t *testing.T, app *fiber.App) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	ln := srv.Listener
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, method, url string, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestMiddlewareTrustedProxy(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		var proxies []string
		if trusted {
			proxies = []string{"127.0.0.1"}
		}
		ips, err := NewClientIP(proxies)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := newTestLimiter(t, "1/h", 1, 0)
		l.now = time.Now
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		app.Use(l.Middleware(ips, "calls"))
		app.Get("/", func(c *fiber.Ctx) error { return c.SendString("ok") })
		url := serveApp(t, app)
		// Two different forwarded clients through the same peer.
		first := get(t, "GET", url, "X-Forwarded-For", "203.0.113.1")
		second := get(t, "GET", url, "X-Forwarded-For", "203.0.113.2")
		if first.StatusCode != 200 {
			t.Fatalf("trusted=%v: first call %d", trusted, first.StatusCode)
		}
		want := 429 // untrusted: both are the peer 127.0.0.1, over its rate
		if trusted {
			want = 200 // trusted: two clients, one call each
		}
		if second.StatusCode != want {
			t.Fatalf("trusted=%v: second call %d, want %d", trusted, second.StatusCode, want)
		}
		if want == 429 && second.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
}

func TestCORS(t *testing.T) {
	for _, bad := range []CORSConfig{
		{Origins: []string{"example.com"}},
		{Origins: []string{"https://example.com/path"}},
		{Origins: []string{"*"}, Credentials: true},
		{Origins: []string{"*"}, Methods: []string{"GE T"}},
		{Origins: []string{"*"}, Headers: []string{"X:Y"}},
		{Origins: []string{"*"}, MaxAge: -time.Second},
	} {
		if _, err := NewCORS(bad); err == nil {
			t.Errorf("NewCORS(%+v) accepted", bad)
		}
	}
	if c, err := NewCORS(CORSConfig{}); c != nil || err != nil {
		t.Errorf("no origins: %v, %v; want CORS off", c, err)
	}
	c, err := NewCORS(CORSConfig{Origins: []string{"https://app.example/"}, Credentials: true, MaxAge: 10 * time.Minute, Methods: []string{"get", "post"}})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	var called atomic.Int32
	app.Use(c.Handler(), func(ctx *fiber.Ctx) error { called.Add(1); return ctx.SendString("fn") })
	url := serveApp(t, app)

	pre := get(t, "OPTIONS", url+"/x", "Origin", "https://APP.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "https://APP.example" ||
		pre.Header.Get("Access-Control-Allow-Methods") != "GET, POST" || pre.Header.Get("Access-Control-Max-Age") != "600" ||
		pre.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	if called.Load() != 0 {
		t.Error("the preflight reached the function")
	}
	if r := get(t, "OPTIONS", url+"/x", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"); r.StatusCode != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", r.StatusCode, r.Header)
	}
	r := get(t, "GET", url+"/x", "Origin", "https://app.example")
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID") {
		t.Errorf("call from an allowed origin: %d %v", r.StatusCode, r.Header)
	}
	r = get(t, "GET", url+"/x", "Origin", "https://evil.example")
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Vary") != "Origin" {
		t.Errorf("call from another origin: %d %v", r.StatusCode, r.Header)
	}
	// A plain OPTIONS (no preflight) goes to the function.
	if r := get(t, "OPTIONS", url+"/x"); r.StatusCode != 200 || called.Load() != 3 {
		t.Errorf("plain OPTIONS: %d, function called %d times", r.StatusCode, called.Load())
	}
}

// An IPv6 client is its /64: two addresses in one /64 share a bucket; the next /64 has its
// own. IPv4 addresses (and IPv4 in IPv6) count one by one.
func TestLimiterIPv6Per64(t *testing.T) {
	for addr, key := range map[string]string{
		"2001:db8:1:2:aaaa:bbbb:cccc:dddd": "2001:db8:1:2::",
		"2001:db8:1:2::1":                  "2001:db8:1:2::",
		"::1":                              "::",
		"192.0.2.1":                        "192.0.2.1",
		"::ffff:192.0.2.1":                 "192.0.2.1",
	} {
		if got := ClientKey(netip.MustParseAddr(addr)); got != netip.MustParseAddr(key) {
			t.Errorf("ClientKey(%s) = %s, want %s", addr, got, key)
		}
	}
	l, _ := newTestLimiter(t, "1/s", 2, 0)
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if ok, _ := l.Allow(a); !ok {
		t.Fatal("first call refused")
	}
	if ok, _ := l.Allow(b); !ok {
		t.Fatal("second call of the burst (another address of the /64) refused")
	}
	if ok, _ := l.Allow(b); ok {
		t.Fatal("a third call from the /64 went through a burst of 2: the two addresses have separate buckets")
	}
	if ok, _ := l.Allow(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
		t.Fatal("a client of the next /64 was refused")
	}
	if n := l.Len(); n != 2 {
		t.Fatalf("%d buckets, want 2 (one per /64)", n)
	}
}

func TestConnLimit(t *testing.T) {
	l := NewConnLimit(2, 3)
	a1, a2 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2") // one /64
	b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for _, ip := range []netip.Addr{a1, a2} {
		if err := l.Acquire(ip); err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
	}
	if err := l.Acquire(a1); err != ErrClientConns {
		t.Fatalf("third connection of one /64: %v, want ErrClientConns", err)
	}
	if err := l.Acquire(b); err != nil {
		t.Fatalf("another client: %v", err)
	}
	if err := l.Acquire(c); err != ErrTotalConns {
		t.Fatalf("fourth connection in all: %v, want ErrTotalConns", err)
	}
	l.Release(a2) // a1's key: one left
	if err := l.Acquire(c); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	for _, ip := range []netip.Addr{a1, b, c} {
		l.Release(ip)
	}
	if n, m := l.Open(), len(l.clients); n != 0 || m != 0 {
		t.Fatalf("%d open, %d clients after every release, want none", n, m)
	}
	// No caps: anything goes.
	free := NewConnLimit(0, 0)
	for range 1000 {
		if err := free.Acquire(b); err != nil {
			t.Fatal(err)
		}
	}
}

// Blocked takes no token: it only says whether Allow would refuse, and for how long.
func TestLimiterBlocked(t *testing.T) {
	l, clock := newTestLimiter(t, "1/s", 2, 0)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 5 {
		if blocked, _ := l.Blocked(a); blocked {
			t.Fatalf("check %d: a client that never failed is blocked", i)
		}
	}
	l.Allow(a)
	l.Allow(a)
	blocked, wait := l.Blocked(a)
	if !blocked || wait <= 0 || wait > time.Second {
		t.Fatalf("after the burst: blocked=%v wait=%v, want blocked for at most 1s", blocked, wait)
	}
	clock.add(wait)
	if blocked, _ := l.Blocked(a); blocked {
		t.Fatal("still blocked after the wait")
	}
	if blocked, _ := l.Blocked(netip.MustParseAddr("192.0.2.2")); blocked {
		t.Fatal("another client is blocked")
	}
}

func TestClientIPTrusts(t *testing.T) {
	r, err := NewClientIP([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Trusts(netip.MustParseAddr("10.1.2.3")) || !r.Trusts(netip.MustParseAddr("::ffff:10.1.2.3")) {
		t.Error("a proxy in 10.0.0.0/8 is not trusted")
	}
	if r.Trusts(netip.MustParseAddr("192.0.2.1")) || (*ClientIP)(nil).Trusts(netip.MustParseAddr("10.1.2.3")) {
		t.Error("an address outside the list, or a nil ClientIP, trusts a proxy")
	}
}
