package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Fasthttp sets a connection's deadlines three times a request when its read, write and idle
// timeouts are set (as the gateway's are): the idle deadline before it waits for the next
// request, the read deadline once it arrives, the write deadline before the answer. Each costs
// a clock read and a change to the runtime's timer of the socket, together some 4 % of the
// gateway's CPU per request. Deadlines that move later need no change at all while the earlier
// one has not passed: lazyConn keeps what was asked, moves the socket's deadline only earlier,
// and when the socket's deadline passes before the one asked for, moves it there and goes on.
// Every deadline holds exactly as asked; under steady traffic the socket's deadline moves once
// a timeout's length, not three times a request.

// lazyListener hands out its connections as lazyConns.
type lazyListener struct{ net.Listener }

func (l lazyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newLazyConn(c), nil
}

// lazyConn is a connection whose deadlines move only when they must (see above).
type lazyConn struct {
	net.Conn
	read, write lazyDeadline
}

func newLazyConn(c net.Conn) *lazyConn {
	lc := &lazyConn{Conn: c}
	lc.read.set, lc.write.set = c.SetReadDeadline, c.SetWriteDeadline
	return lc
}

// lazyDeadline is one direction's deadline: what was asked, and what the socket has.
type lazyDeadline struct {
	set func(time.Time) error // the socket's SetReadDeadline or SetWriteDeadline

	mu     sync.Mutex
	asked  time.Time // zero: none
	socket time.Time // zero: none
}

// ask records t and moves the socket's deadline when it is earlier.
func (d *lazyDeadline) ask(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = t
	if t.IsZero() || (!d.socket.IsZero() && !t.Before(d.socket)) {
		return nil // later than the socket's, or none: the socket's passes first, see extend
	}
	d.socket = t
	return d.set(t)
}

// extend is called when an operation failed with err: when it is the socket's deadline passing
// before the deadline asked for, it moves the socket's deadline there and reports that the
// operation may go on.
func (d *lazyDeadline) extend(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.asked.IsZero() && !time.Now().Before(d.asked) {
		return false // the deadline asked for has passed
	}
	d.socket = d.asked
	return d.set(d.asked) == nil
}

// sync gives the socket the deadline asked for.
func (d *lazyDeadline) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.socket.Equal(d.asked) {
		return nil
	}
	d.socket = d.asked
	return d.set(d.asked)
}

func (c *lazyConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if n > 0 || err == nil || !c.read.extend(err) {
			return n, err
		}
	}
}

func (c *lazyConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	for err != nil && c.write.extend(err) {
		var more int
		more, err = c.Conn.Write(b[n:])
		n += more
	}
	return n, err
}

func (c *lazyConn) SetDeadline(t time.Time) error {
	return errors.Join(c.read.ask(t), c.write.ask(t))
}

func (c *lazyConn) SetReadDeadline(t time.Time) error  { return c.read.ask(t) }
func (c *lazyConn) SetWriteDeadline(t time.Time) error { return c.write.ask(t) }

// ReadFrom lets the socket copy from r itself (sendfile for the static files), under the
// write deadline asked for.
func (c *lazyConn) ReadFrom(r io.Reader) (int64, error) {
	if err := c.write.sync(); err != nil {
		return 0, err
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c}, r)
}

// writerOnly hides a writer's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// SyscallConn gives the socket's descriptor, for the WebSocket's direct writes.
func (c *lazyConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("gateway: the connection has no descriptor")
}
