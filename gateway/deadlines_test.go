package gateway

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// lazyPair returns a lazyConn over one end of a loopback TCP connection, and the other end.
func lazyPair(t *testing.T) (*lazyConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := lazyListener{ln}.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := (<-accepted).(*lazyConn)
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

// A read deadline moved later holds as asked, though the socket keeps the earlier one until
// it passes: the read waits past the first deadline for data that comes before the second.
func TestLazyReadDeadlineMovedLater(t *testing.T) {
	c, peer := lazyPair(t)
	start := time.Now()
	c.SetReadDeadline(start.Add(50 * time.Millisecond))
	c.SetReadDeadline(start.Add(10 * time.Second))
	if !c.read.socket.Equal(start.Add(50 * time.Millisecond)) {
		t.Fatalf("the socket's deadline is %v: moving it later should not have touched it", c.read.socket)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		peer.Write([]byte("late"))
	}()
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("Read = %q, %v; want the data sent after the first deadline", buf[:n], err)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Fatalf("Read returned after %v, before the data was sent", time.Since(start))
	}
}

// A read deadline moved earlier ends a read that waits, at once when it has passed; and none
// at all after a short one leaves reads waiting for data.
func TestLazyReadDeadlineMovedEarlierOrRemoved(t *testing.T) {
	c, peer := lazyPair(t)
	c.SetReadDeadline(time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the read wait; the result holds either way
	c.SetReadDeadline(time.Now())     // what the WebSocket code does to end a read
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want the deadline exceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline moved earlier did not end the read")
	}

	c.SetReadDeadline(time.Now().Add(-time.Millisecond)) // the socket's deadline has passed
	c.SetReadDeadline(time.Time{})                       // and none is asked for: reads wait
	peer.Write([]byte("x"))
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("Read with no deadline = %q, %v; want x", buf[:n], err)
	}
}

// A write deadline moved later lets a write blocked past the first one finish, every byte in
// order; a write deadline that passes ends the write, telling how much went.
func TestLazyWriteDeadline(t *testing.T) {
	c, peer := lazyPair(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the socket buffers
	start := time.Now()
	c.SetWriteDeadline(start.Add(50 * time.Millisecond))
	c.SetWriteDeadline(start.Add(time.Minute))
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(200 * time.Millisecond) // the writer blocks on a full socket meanwhile
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(data))))
		got <- b
	}()
	if n, err := c.Write(data); err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v; want all %d bytes", n, err, len(data))
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the peer read %d bytes, not what was written", len(b))
	}

	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)) // no one reads now
	n, err := c.Write(data)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n >= len(data) {
		t.Fatalf("Write with no reader = %d, %v; want part of it and the deadline exceeded", n, err)
	}
}

// ReadFrom copies through the socket's own ReadFrom (sendfile from a file), which lazyConn's
// Write does not see: it must hold the write deadline asked for, not an earlier one the socket
// still has, so a copy blocked past that earlier one finishes.
func TestLazyReadFrom(t *testing.T) {
	c, peer := lazyPair(t)
	f, err := os.CreateTemp(t.TempDir(), "body")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("static "), 3<<20) // 21 MiB: more than the socket buffers
	f.Write(data)
	f.Seek(0, io.SeekStart)
	start := time.Now()
	c.SetWriteDeadline(start.Add(50 * time.Millisecond))
	c.SetWriteDeadline(start.Add(time.Minute)) // the socket keeps the first until ReadFrom
	copied := make(chan error, 1)
	go func() {
		_, err := c.ReadFrom(f)
		c.Close()
		copied <- err
	}()
	time.Sleep(200 * time.Millisecond) // past the first deadline, with nobody reading
	select {
	case err := <-copied:
		t.Fatalf("ReadFrom ended (%v) before the peer read: the socket buffers held the file, and the test no longer blocks the copy", err)
	default: // blocked on the full socket, as the test means it to be
	}
	b, err := io.ReadAll(peer)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read %d bytes, %v; want the file's %d", len(b), err, len(data))
	}
	if err := <-copied; err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	if _, err := c.SyscallConn(); err != nil {
		t.Fatalf("SyscallConn: %v", err)
	}
}

// BenchmarkRequestDeadlines measures GET /healthz through the gateway's Fiber app over
// loopback keep-alive connections, from 32 client goroutines: once with the connections of
// Serve (lazyConn), once with fasthttp setting every deadline itself, on the same server.
func BenchmarkRequestDeadlines(b *testing.B) {
	s := newTestServer(b, Config{})
	for _, conns := range []struct {
		name  string
		serve func(net.Listener) error
	}{{"lazy", s.Serve}, {"plain", s.app.Listener}} {
		base := listen(b, conns.serve)
		b.Run("conn="+conns.name, func(b *testing.B) {
			const clients = 32
			u, _ := url.Parse(base)
			client := &fasthttp.HostClient{Addr: u.Host, MaxConns: clients}
			defer client.CloseIdleConnections()
			b.SetParallelism(max(1, clients/goruntime.GOMAXPROCS(0)))
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI(base + "/healthz")
				for pb.Next() {
					if err := client.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusOK {
						b.Errorf("GET /healthz: %d %v", resp.StatusCode(), err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
