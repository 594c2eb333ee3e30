package redis

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

// While Redis cannot be reached, the listener retries with a growing wait instead of
// spinning; once Redis is back it resubscribes, calls Resync and hears publications again.
func TestTopicsListenerBacksOffWhileRedisIsAway(t *testing.T) {
	pub := newTestTopics(t, triggers.HistoryOptions{})
	px := newProxy(t)
	tp := px.topics(t, pub)
	r := &syncListener{}
	if err := tp.ListenTopics(testkit.Context(t, 30*time.Second), r); err != nil {
		t.Fatal(err)
	}
	px.setMode(proxyRefuse)
	px.dropAll()
	before := px.accepts.Load()
	time.Sleep(time.Second) // the measured interval, not a wait for a condition
	if n := px.accepts.Load() - before; n > 40 {
		t.Errorf("%d connection attempts in 1s while Redis was away: the listener spins", n)
	} else {
		t.Logf("%d connection attempts in 1s while Redis was away", n)
	}
	px.setMode(proxyForward)
	waitResyncAndHear(t, pub, r)
}

// A connection that goes silent without an error (half-open TCP) is noticed by the
// listener's unanswered ping and replaced.
func TestTopicsListenerReplacesSilentConnection(t *testing.T) {
	pub := newTestTopics(t, triggers.HistoryOptions{})
	px := newProxy(t)
	tp := px.topics(t, pub)
	tp.pingEvery = 100 * time.Millisecond
	r := &syncListener{}
	if err := tp.ListenTopics(testkit.Context(t, 30*time.Second), r); err != nil {
		t.Fatal(err)
	}
	px.blackHoleAll()
	waitResyncAndHear(t, pub, r)
}

func waitResyncAndHear(t *testing.T, pub *Topics, r *syncListener) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.resyncs.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no Resync within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p, err := pub.PublishTopic(testkit.Context(t, 5*time.Second), "after", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for !r.heard(p) {
		if time.Now().After(deadline) {
			t.Fatal("the publication after the Resync was not heard")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type syncListener struct {
	mu      sync.Mutex
	pubs    []*triggers.Publication
	resyncs atomic.Int64
}

func (s *syncListener) Publication(p *triggers.Publication) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pubs = append(s.pubs, p)
}

func (s *syncListener) Resync() { s.resyncs.Add(1) }

func (s *syncListener) heard(pos triggers.Position) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pubs {
		if p.Topic == "after" && p.Position == pos {
			return true
		}
	}
	return false
}

type proxyMode int32

const (
	proxyForward proxyMode = iota
	proxyRefuse            // accept and close at once, as a Redis that is going away
)

// proxy stands between a client and the test Redis, to fail the way networks do.
type proxy struct {
	ln      net.Listener
	target  string
	mode    atomic.Int32
	accepts atomic.Int64

	mu    sync.Mutex
	pairs []*proxyPair
}

type proxyPair struct {
	client, server net.Conn
	blackHole      atomic.Bool // swallow everything, both ways, without closing
}

func newProxy(t *testing.T) *proxy {
	t.Helper()
	opt, err := goredis.ParseURL(testURL())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{ln: ln, target: opt.Addr}
	done := make(chan struct{})
	go func() {
		defer close(done)
		px.serve()
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		px.dropAll()
	})
	return px
}

// topics returns a node of pub's deployment whose connections go through the proxy.
func (px *proxy) topics(t *testing.T, pub *Topics) *Topics {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: px.ln.Addr().String(), ClientName: testClientName,
		MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	tp, err := NewTopics(c, pub.hist, TopicsOptions{Prefix: pub.prefix, MetaTTL: pub.metaTTL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

func (px *proxy) setMode(m proxyMode) { px.mode.Store(int32(m)) }

func (px *proxy) serve() {
	for {
		c, err := px.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		px.accepts.Add(1)
		if proxyMode(px.mode.Load()) == proxyRefuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", px.target)
		if err != nil {
			c.Close()
			continue
		}
		p := &proxyPair{client: c, server: s}
		px.mu.Lock()
		px.pairs = append(px.pairs, p)
		px.mu.Unlock()
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *proxyPair) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			to.Close()
			return
		}
		if p.blackHole.Load() {
			continue
		}
		if _, err := to.Write(buf[:n]); err != nil {
			from.Close()
			return
		}
	}
}

// dropAll closes every proxied connection.
func (px *proxy) dropAll() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, p := range px.pairs {
		p.client.Close()
		p.server.Close()
	}
	px.pairs = nil
}

// blackHoleAll makes every current connection swallow what is sent either way; new
// connections work.
func (px *proxy) blackHoleAll() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, p := range px.pairs {
		p.blackHole.Store(true)
	}
}
