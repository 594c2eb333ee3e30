package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

// Frame kinds.
const (
	// KindRequest carries a proto.Request from the host to the plugin.
	KindRequest byte = 1
	// KindResponse carries a proto.Response from the plugin to the host.
	KindResponse byte = 2
	// KindCancel tells the plugin to cancel the invocation (or the batch) with the frame's ID;
	// it has no payload.
	KindCancel byte = 3
	// KindBatchRequest carries a proto.BatchRequest: several invocations under one ID. Only
	// plugins whose Open answered batches=true get it.
	KindBatchRequest byte = 4
	// KindBatchResponse carries the proto.BatchResponse answering the batch with the frame's ID.
	KindBatchResponse byte = 5
	// KindHostCall carries a call of the plugin to the host, made by a handler during an
	// invocation (fn.Presence): a JSON object with an "op". Its ID is the plugin's, a space of
	// its own. A host that does not know the kind ignores it (the call waits for its ctx).
	KindHostCall byte = 6
	// KindHostReply answers the host call with the frame's ID: a JSON object, with "error"
	// when the call failed.
	KindHostReply byte = 7
)

// HeaderSize is the size of a frame header.
const HeaderSize = 13

// MaxPayload bounds one frame's payload, so a corrupt length cannot make a side allocate
// gigabytes. It leaves room for a request body at the largest sensible --body-limit.
const MaxPayload = 64 << 20

// ErrClosed is returned by Send after the connection was closed or failed.
var ErrClosed = errors.New("wire: connection closed")

// ErrTooLarge is returned by Send for a payload over MaxPayload: the peer would refuse it and
// drop the connection with every call on it.
var ErrTooLarge = errors.New("wire: payload over the frame limit")

// Frame is one unit on the wire.
type Frame struct {
	Kind    byte
	ID      uint64
	Payload []byte
	// More, on a frame ReadLoop hands over, tells that the next frame has arrived whole
	// already: the reader may gather work and act once More is false. Send ignores it.
	More bool
}

// Conn is one side of a data path connection. Send is safe for concurrent use; ReadLoop is
// called by exactly one goroutine.
//
// Senders write straight into a shared buffer under a lock. The sender that finds no other
// sender queued behind it and no flush promised takes the flush on: it first yields the
// processor once, so that the goroutines ready to run (other callers, other handlers
// finishing) add their frames, then writes them all in one syscall. Under load many frames
// leave in one write; an idle connection pays a yield that returns at once, and no hand-off
// to a writer goroutine.
type Conn struct {
	c    net.Conn
	done chan struct{}

	waiting  atomic.Int32 // senders queued for wmu
	wmu      sync.Mutex
	bw       *bufio.Writer
	hdr      [HeaderSize]byte
	flushing bool // guarded by wmu: a sender has promised to flush what is buffered

	closeOnce sync.Once
	errMu     sync.Mutex
	err       error
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn {
	return &Conn{c: c, done: make(chan struct{}), bw: bufio.NewWriterSize(c, 64<<10)}
}

// Send writes f, flushing unless another sender is about to. It returns ErrClosed once the
// connection is closed or has failed. It blocks while the peer does not read.
func (c *Conn) Send(f Frame) error {
	return c.SendAll([]Frame{f})
}

// SendAll writes fs in order, back to back, as Send writes one frame. A payload over
// MaxPayload fails the call with ErrTooLarge before anything is written.
func (c *Conn) SendAll(fs []Frame) error {
	for _, f := range fs {
		if len(f.Payload) > MaxPayload {
			return ErrTooLarge
		}
	}
	c.waiting.Add(1)
	c.wmu.Lock()
	c.waiting.Add(-1)
	select {
	case <-c.done:
		c.wmu.Unlock()
		return ErrClosed
	default:
	}
	var err error
	for _, f := range fs {
		if err = c.write(f); err != nil {
			break
		}
	}
	if err != nil || c.flushing || c.waiting.Load() > 0 {
		// Failed, or someone flushes after this frame: the promised flusher, or the next
		// sender, which finds itself last or finds the promise.
		c.wmu.Unlock()
		return c.result(err)
	}
	c.flushing = true
	c.wmu.Unlock()
	runtime.Gosched()
	c.wmu.Lock()
	c.flushing = false
	err = c.bw.Flush()
	c.wmu.Unlock()
	return c.result(err)
}

// write buffers f; the caller holds wmu.
func (c *Conn) write(f Frame) error {
	binary.BigEndian.PutUint32(c.hdr[0:4], uint32(len(f.Payload)))
	c.hdr[4] = f.Kind
	binary.BigEndian.PutUint64(c.hdr[5:13], f.ID)
	_, err := c.bw.Write(c.hdr[:])
	if err == nil {
		_, err = c.bw.Write(f.Payload)
	}
	return err
}

// result turns a write error into the connection's failure.
func (c *Conn) result(err error) error {
	if err != nil {
		c.fail(fmt.Errorf("wire: write: %w", err))
		return ErrClosed
	}
	return nil
}

// Done is closed when the connection is closed or has failed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Close closes the connection; frames not yet flushed are dropped. It is idempotent.
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

// whole tells whether br holds the next frame entirely, so reading it takes no syscall.
func whole(br *bufio.Reader) bool {
	if br.Buffered() < HeaderSize {
		return false
	}
	hdr, _ := br.Peek(HeaderSize)
	return br.Buffered()-HeaderSize >= int(binary.BigEndian.Uint32(hdr[0:4]))
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
		handle(Frame{Kind: hdr[4], ID: binary.BigEndian.Uint64(hdr[5:13]), Payload: buf, More: whole(br)})
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a large body's buffer for the life of the connection
		}
	}
}
