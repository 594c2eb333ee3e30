package ws

import (
	"encoding/binary"
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// wire is a connection's socket, under its websocket.Conn. Every write goes through mu, so
// writes never interleave, and a frame that a direct write could only start (pending) is
// finished before anything else is written.
//
// A direct write (tryWrite) is how most publications go out: the fan-out writes the frame
// with one non-blocking write(2) while the connection has nothing queued and no writer
// running, which costs neither a goroutine nor a timer. When the socket does not take the
// whole frame, the rest waits in pending and the connection's writer finishes it, under the
// write deadline; a client that does not read then fills its queue and is closed with 4008,
// as before. A connection that gives no syscall.RawConn (a TLS connection, a wrapper) takes
// no direct writes: every frame goes through the writer.
type wire struct {
	net.Conn
	// raw is the socket's syscall.RawConn, nil when there is none (no direct writes).
	raw syscall.RawConn
	// early is what the client sent before the handshake's answer; read first.
	early []byte

	mu      sync.Mutex
	pending []byte // the rest of a frame a direct write started
	// try is the frame a direct write offers the socket, and tried how much it took; the
	// function that writes it (write) is made once, so that a direct write allocates nothing.
	try   []byte
	tried int
	write func(fd uintptr) bool
}

func newWire(c net.Conn, early []byte) *wire {
	w := &wire{Conn: c, early: early}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
			w.write = w.writeOnce
		}
	}
	return w
}

// Read is called by the connection's reader only.
func (w *wire) Read(p []byte) (int, error) {
	if len(w.early) > 0 {
		n := copy(p, w.early)
		w.early = w.early[n:]
		return n, nil
	}
	return w.Conn.Read(p)
}

// Write writes p whole after anything pending (the websocket.Conn's control frames).
func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushLocked(); err != nil {
		return 0, err
	}
	return w.Conn.Write(p)
}

// writeFrames writes frames, after anything pending, in as few system calls as it can.
func (w *wire) writeFrames(frames [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushLocked(); err != nil {
		return err
	}
	if len(frames) == 1 {
		_, err := w.Conn.Write(frames[0])
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(w.Conn)
	return err
}

// flush finishes what a direct write started.
func (w *wire) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *wire) flushLocked() error {
	for len(w.pending) > 0 {
		n, err := w.Conn.Write(w.pending)
		w.pending = w.pending[n:]
		if err != nil {
			return err
		}
	}
	w.pending = nil
	return nil
}

// tryWrite writes frame if the socket takes it without waiting. It reports whether it
// wrote some of it; rest says that only part went and the rest is pending, for the writer
// to finish. Nothing is written when another write is in progress or pending, or when the
// socket is full, failed, closed or past its write deadline: the caller queues the frame
// then, and the writer sees which (and sets a new deadline).
func (w *wire) tryWrite(frame []byte) (wrote, rest bool) {
	if len(frame) == 0 || w.raw == nil || !w.mu.TryLock() {
		return false, false
	}
	defer w.mu.Unlock()
	if len(w.pending) > 0 {
		return false, false
	}
	// RawConn.Write holds the socket open and checks its write deadline around the call;
	// returning true makes it one attempt that never waits. The socket is non-blocking
	// (Go's poller owns it), so the call returns at once and needs none of the scheduler's
	// bookkeeping of a blocking one. Every write to the socket holds w.mu, so this one
	// cannot come between the parts of another.
	w.try, w.tried = frame, 0
	err := w.raw.Write(w.write)
	n := w.tried
	w.try = nil
	if err != nil || n <= 0 {
		return false, false // full (EAGAIN), failed or closed
	}
	if n < len(frame) {
		w.pending = frame[n:] // frames are never modified once built
		return true, true
	}
	return true, false
}

// writeOnce offers w.try to the socket fd once, and records in w.tried how much it took.
// It always reports done: RawConn.Write does not wait for the socket to take more.
func (w *wire) writeOnce(fd uintptr) bool {
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.try[0])), uintptr(len(w.try)))
	if errno == 0 {
		w.tried = int(r)
	}
	return true
}

// textFrame returns payload as one unmasked, final WebSocket text frame (RFC 6455 5.2), the
// form the server sends.
func textFrame(payload []byte) []byte {
	n := len(payload)
	var f []byte
	switch {
	case n < 126:
		f = make([]byte, 2, 2+n)
		f[1] = byte(n)
	case n <= 0xffff:
		f = make([]byte, 4, 4+n)
		f[1] = 126
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f = make([]byte, 10, 10+n)
		f[1] = 127
		binary.BigEndian.PutUint64(f[2:], uint64(n))
	}
	f[0] = 0x81 // FIN, text
	return append(f, payload...)
}
