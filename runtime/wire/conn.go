package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Frame kinds.
const (
	// KindRequest carries a proto.Request from the host to the plugin.
	KindRequest byte = 1
	// KindResponse carries a proto.Response from the plugin to the host.
	KindResponse byte = 2
	// KindCancel tells the plugin to cancel the invocation with the frame's ID; it has no payload.
	KindCancel byte = 3
)

// HeaderSize is the size of a frame header.
const HeaderSize = 13

// MaxPayload bounds one frame's payload, so a corrupt length cannot make a side allocate
// gigabytes. It leaves room for a request body at the largest sensible --body-limit.
const MaxPayload = 64 << 20

// ErrClosed is returned by Send after the connection was closed or failed.
var ErrClosed = errors.New("wire: connection closed")

// Frame is one unit on the wire.
type Frame struct {
	Kind    byte
	ID      uint64
	Payload []byte
}

// Conn is one side of a data path connection. Send is safe for concurrent use; ReadLoop is called
// by exactly one goroutine; WriteLoop by exactly one other.
type Conn struct {
	c    net.Conn
	out  chan Frame
	done chan struct{}

	closeOnce sync.Once
	errMu     sync.Mutex
	err       error
}

// NewConn wraps c. queue bounds the frames waiting for the writer; Send blocks when it is full.
func NewConn(c net.Conn, queue int) *Conn {
	return &Conn{c: c, out: make(chan Frame, queue), done: make(chan struct{})}
}

// Send queues f for the writer. It returns ErrClosed once the connection is closed. The payload
// must not be modified after Send.
func (c *Conn) Send(f Frame) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	select {
	case c.out <- f:
		return nil
	case <-c.done:
		return ErrClosed
	}
}

// Done is closed when the connection is closed or has failed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Close closes the connection; queued frames not yet written are dropped. It is idempotent.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

func (c *Conn) fail(err error) {
	c.closeOnce.Do(func() {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		close(c.done)
		c.c.Close()
	})
}

// WriteLoop writes queued frames until the connection closes. It writes everything that is
// queued before it flushes, so concurrent invocations share syscalls.
func (c *Conn) WriteLoop() {
	bw := bufio.NewWriterSize(c.c, 64<<10)
	var hdr [HeaderSize]byte
	write := func(f Frame) error {
		binary.BigEndian.PutUint32(hdr[0:4], uint32(len(f.Payload)))
		hdr[4] = f.Kind
		binary.BigEndian.PutUint64(hdr[5:13], f.ID)
		if _, err := bw.Write(hdr[:]); err != nil {
			return err
		}
		_, err := bw.Write(f.Payload)
		return err
	}
	for {
		var f Frame
		select {
		case f = <-c.out:
		case <-c.done:
			return
		}
		err := write(f)
	drain:
		for err == nil {
			select {
			case f = <-c.out:
				err = write(f)
			default:
				break drain
			}
		}
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			c.fail(fmt.Errorf("wire: write: %w", err))
			return
		}
	}
}

// ReadLoop reads frames and passes each to handle until the connection fails; it returns the
// reason (io.EOF when the peer closed it). The payload handed to handle is only valid during the
// call: handle must copy what it keeps (proto.Unmarshal does).
func (c *Conn) ReadLoop(handle func(Frame)) error {
	br := bufio.NewReaderSize(c.c, 64<<10)
	var hdr [HeaderSize]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			c.fail(err)
			return err
		}
		n := binary.BigEndian.Uint32(hdr[0:4])
		if n > MaxPayload {
			err := fmt.Errorf("wire: frame of %d bytes exceeds the limit of %d", n, MaxPayload)
			c.fail(err)
			return err
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			err = fmt.Errorf("wire: short frame: %w", err)
			c.fail(err)
			return err
		}
		handle(Frame{Kind: hdr[4], ID: binary.BigEndian.Uint64(hdr[5:13]), Payload: buf})
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a large body's buffer for the life of the connection
		}
	}
}
