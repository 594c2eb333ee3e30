package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// fleet is a set of WebSocket clients, each subscribed to one topic, read by a few pollers
// (poll_linux.go; elsewhere a goroutine per client) that check the order of what each
// receives and timestamp it.
//
// Every publication carries {"seq":N}: one publisher per topic numbers its publications
// 1, 2, 3..., so a client must see exactly the next number each time. A client whose topic
// is timed (the fan-out) also records when it received each seq, in a slice allocated before
// the clock starts, and the last client to receive a seq closes that seq's channel.
type fleet struct {
	clients []*client
	// base is the origin of every timestamp, in nanoseconds since it.
	base time.Time
	// got[seq] counts the clients that received seq, and done[seq] is closed by the one that
	// made it reach len(clients); nil outside the fan-out.
	got  []atomic.Int64
	done []chan struct{}

	dial dialStats
	// polling reads the clients (Linux); wg counts the goroutine readers otherwise.
	polling *pollers
	wg      sync.WaitGroup
	closing atomic.Bool
	// dropped counts clients whose connection ended before the fleet closed it.
	dropped atomic.Int64
}

// dialStats says how connecting went.
type dialStats struct {
	// took is the time to connect and subscribe every client.
	took time.Duration
	// retries counts failed dials that were tried again, failed those that failed every
	// attempt, and refused the subscribes that did not get "ok":true.
	retries, failed, refused int
	firstErr                 error
}

func (d dialStats) errors() int { return d.failed + d.refused }

// client is one connection.
type client struct {
	ws    *websocket.Conn
	poll  *pollState // when polled
	topic int
	// recv[seq] is when seq arrived (ns since the fleet's base), for timed topics.
	recv []atomic.Int64
	// last is the last seq received in order; count the publications received, lastAt when the
	// latest arrived. gaps counts skipped seqs, dupes repeated or older ones, and bad frames that
	// were not publications with a seq.
	last, count, lastAt atomic.Int64
	gaps, dupes, bad    atomic.Int64
}

// fleetConfig says what clients to connect.
type fleetConfig struct {
	addr string
	// n clients; client i subscribes to topicName(topicOf(i)).
	n       int
	topicOf func(i int) int
	// timed is the number of seqs whose receipt is timed (0: none): client slices and the
	// fleet's counters are allocated for seqs 1..timed.
	timed int
	// dialers dial at once; each dial is tried up to attempts times.
	dialers, attempts int
}

func topicName(t int) string { return fmt.Sprintf("bench.t%d", t) }

// dialFleet connects and subscribes cfg.n clients, dialers at a time so that the server's
// listen backlog never overflows, and starts their readers. Clients that fail are counted
// and left out; the fleet is returned even then.
func dialFleet(ctx context.Context, cfg fleetConfig) *fleet {
	f := &fleet{base: time.Now()}
	if cfg.timed > 0 {
		f.got = make([]atomic.Int64, cfg.timed+1)
		f.done = make([]chan struct{}, cfg.timed+1)
		for i := range f.done {
			f.done[i] = make(chan struct{})
		}
	}
	d := &websocket.Dialer{
		// Small buffers and a shared write pool: the clients subscribe once and then only
		// read small frames, and ten thousand of them live in this process.
		ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{},
		HandshakeTimeout: 10 * time.Second,
		NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	url := "ws://" + cfg.addr + "/ws"
	jobs := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c, retries, err := dialClient(ctx, d, url, cfg.topicOf(i), cfg.attempts)
				mu.Lock()
				f.dial.retries += retries
				switch {
				case err == nil:
					f.clients = append(f.clients, c)
				case errors.Is(err, errRefused):
					f.dial.refused++
				default:
					f.dial.failed++
				}
				if err != nil && f.dial.firstErr == nil {
					f.dial.firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for i := range cfg.n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	f.dial.took = time.Since(start)
	for _, c := range f.clients {
		if cfg.timed > 0 {
			c.recv = make([]atomic.Int64, cfg.timed+1)
		}
	}
	f.startReading()
	return f
}

// startReaders reads each client in a goroutine of its own.
func (f *fleet) startReaders() {
	for _, c := range f.clients {
		f.wg.Add(1)
		go f.read(c)
	}
}

var errRefused = errors.New("subscribe refused")

// dialClient connects one client and subscribes it, trying the connection up to attempts
// times. A refused subscribe is not tried again.
func dialClient(ctx context.Context, d *websocket.Dialer, url string, topic, attempts int) (*client, int, error) {
	var err error
	for a := range attempts {
		var ws *websocket.Conn
		ws, _, err = d.DialContext(ctx, url, nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil, a, err
			}
			continue
		}
		c := &client{ws: ws, topic: topic}
		if err = c.subscribe(); err != nil {
			ws.Close()
			return nil, a, err
		}
		return c, a, nil
	}
	return nil, attempts - 1, fmt.Errorf("dial %s: %w", url, err)
}

// subscribe sends the subscribe request and waits (up to 10 s) for its reply.
func (c *client) subscribe() error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Appendf(nil, `{"id":1,"op":"subscribe","topic":%q}`, topicName(c.topic))
	if err := c.ws.WriteMessage(websocket.TextMessage, req); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, reply, err := c.ws.ReadMessage()
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if !bytes.HasPrefix(reply, []byte(`{"id":1,"ok":true`)) {
		return fmt.Errorf("%w: %s", errRefused, reply)
	}
	_ = c.ws.SetReadDeadline(time.Time{})
	return nil
}

// read handles c's frames until its connection ends.
func (f *fleet) read(c *client) {
	defer f.wg.Done()
	buf := make([]byte, 0, 256)
	for {
		_, r, err := c.ws.NextReader()
		if err == nil {
			buf, err = readAll(r, buf[:0])
		}
		if err != nil {
			if !f.closing.Load() {
				f.dropped.Add(1)
			}
			return
		}
		f.receive(c, buf, time.Since(f.base).Nanoseconds())
	}
}

// receive checks one frame of c, received at (ns since base).
func (f *fleet) receive(c *client, frame []byte, at int64) {
	seq, ok := parseSeq(frame)
	if !ok {
		c.bad.Add(1)
		return
	}
	c.count.Add(1)
	c.lastAt.Store(at)
	switch last := c.last.Load(); {
	case seq <= last:
		c.dupes.Add(1)
		return
	case seq > last+1:
		c.gaps.Add(seq - last - 1)
	}
	c.last.Store(seq)
	if seq < int64(len(c.recv)) {
		c.recv[seq].Store(at)
		if f.got[seq].Add(1) == int64(len(f.clients)) {
			close(f.done[seq])
		}
	}
}

// readAll appends what r holds to buf.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// publicationPrefix starts every publication frame of both servers.
var publicationPrefix = []byte(`{"topic":"bench.`)

// parseSeq finds the seq of a publication frame,
// {"topic":"bench.tN","offset":"K","data":{"seq":SEQ}}, without decoding all of it: ten
// thousand clients share the machine with the server they measure.
func parseSeq(frame []byte) (int64, bool) {
	if !bytes.HasPrefix(frame, publicationPrefix) {
		return 0, false
	}
	i := bytes.LastIndex(frame, []byte(`"seq":`))
	if i < 0 {
		return 0, false
	}
	var n int64
	digits := 0
	for _, ch := range frame[i+len(`"seq":`):] {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + int64(ch-'0')
		digits++
	}
	if digits == 0 || digits > 18 {
		return 0, false
	}
	return n, true
}

// counts sums what the clients received and what went wrong.
func (f *fleet) counts() (received, gaps, dupes, bad int64) {
	for _, c := range f.clients {
		received += c.count.Load()
		gaps += c.gaps.Load()
		dupes += c.dupes.Load()
		bad += c.bad.Load()
	}
	return received, gaps, dupes, bad
}

// close closes every connection and waits for the readers.
func (f *fleet) close() {
	f.closing.Store(true)
	f.stopReading()
	for _, c := range f.clients {
		_ = c.ws.NetConn().Close()
	}
	f.wg.Wait()
}
