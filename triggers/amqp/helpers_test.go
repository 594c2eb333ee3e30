package amqp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/broker"
	"github.com/edgefn/edgefn/internal/testkit"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// brokerErr is why the test broker is unreachable, found once in TestMain.
var brokerErr error

func testURL() string {
	if u := os.Getenv("EDGEFN_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

func TestMain(m *testing.M) {
	conn, err := amqp091.DialConfig(testURL(), amqp091.Config{Dial: amqp091.DefaultDial(3 * time.Second)})
	if err != nil {
		brokerErr = err
		fmt.Fprintf(os.Stderr, "\n*** RABBITMQ UNREACHABLE at %s: %v\n*** RabbitMQ tests are SKIPPED (they fail when CI is set); set EDGEFN_TEST_AMQP_URL\n\n",
			broker.Redact(testURL()), err)
	} else {
		conn.Close()
	}
	os.Exit(m.Run())
}

// needBroker skips tb when the broker is unreachable, or fails it under CI.
func needBroker(tb testing.TB) {
	tb.Helper()
	if brokerErr == nil {
		return
	}
	msg := fmt.Sprintf("RABBITMQ UNREACHABLE: %s: %v", broker.Redact(testURL()), brokerErr)
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// dialTest connects to the test broker (or to url, when given) and, at cleanup, deletes
// every queue the backend declared or saw, with their delay queues, then closes it.
func dialTest(tb testing.TB, opts Options, urls ...string) *Queues {
	tb.Helper()
	needBroker(tb)
	u := testURL()
	if len(urls) > 0 {
		u = urls[0]
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(tb)
	}
	opts.Name = testConnName
	q, err := Dial(u, opts)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() {
		// The delay ladder's queues (edgefn.delay.*: its rungs, the due queue every forwarder
		// consumes, tombstones) are shared by every process on the broker, other test runs'
		// gateways included: deleting them would lose their delayed messages.
		own := slices.DeleteFunc(q.decls.names(), func(n string) bool { return strings.HasPrefix(n, "edgefn.delay.") })
		deleteQueues(tb, own...)
		q.Close()
	})
	return q
}

// deleteQueues deletes queues and the delay queues of each, over a connection of its own.
func deleteQueues(tb testing.TB, names ...string) {
	tb.Helper()
	conn, err := amqp091.Dial(testURL())
	if err != nil {
		tb.Errorf("cleanup: dial: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		tb.Errorf("cleanup: channel: %v", err)
		return
	}
	defer ch.Close()
	var all []string
	for _, n := range names {
		all = append(all, n)
		for b := minRetryBucket; b <= maxRetryBucket; b = retryBucket(b + 1) {
			all = append(all, delaySpec(n, b).name)
		}
	}
	for _, n := range all {
		if _, err := ch.QueueDelete(n, false, false, false); err != nil {
			tb.Errorf("cleanup: delete %s: %v", n, err)
			return
		}
	}
}

// uniqueName returns a queue name no other test uses.
func uniqueName(tb testing.TB) string {
	return "edgefn-test-amqp-" + sanitize(tb.Name()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// closeAllConnections makes the broker drop every client connection and waits until q has
// reconnected both of its connections.
// testConnName names this package's broker connections ("<name> publish", "<name> consume").
const testConnName = "edgefn-amqp-test"

func closeAllConnections(t *testing.T, q *Queues) {
	t.Helper()
	pub, sub := q.pubLink.generation(), q.subLink.generation()
	// Only this package's connections: other test packages share the broker.
	out, err := exec.Command("rabbitmqctl", "-q", "list_connections", "pid", "client_properties").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl list_connections: %v\n%s", err, out)
	}
	closed := 0
	for _, line := range strings.Split(string(out), "\n") {
		// client_properties holds {"connection_name","<name> publish"}.
		pid, props, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok || !strings.Contains(props, `"`+testConnName+` `) {
			continue
		}
		if out, err := exec.Command("rabbitmqctl", "close_connection", pid, "test").CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl close_connection: %v\n%s", err, out)
		}
		closed++
	}
	if closed == 0 {
		t.Fatalf("no connection named %q to close in:\n%s", testConnName, out)
	}
	testkit.Eventually(t, 30*time.Second, "both connections to be re-established", func() bool {
		return q.pubLink.generation() > pub && q.subLink.generation() > sub && q.Ping(context.Background()) == nil
	})
}

// proxy is a TCP proxy to the broker that a test can cut, to simulate an outage: cut
// connections are closed, and new ones are closed at once until the proxy is restored.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t *testing.T) (*proxy, string) {
	t.Helper()
	needBroker(t)
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5672")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: host, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}
