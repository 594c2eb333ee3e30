package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/wire"
)

// wireWait bounds every wait on another goroutine in these tests.
const wireWait = 10 * time.Second

// wirePeer is one side of a connection with its loops running: frames it reads (copied) arrive
// on frames, and ReadLoop's result on readErr.
type wirePeer struct {
	conn    *wire.Conn
	frames  chan wire.Frame
	readErr chan error
}

func startWirePeer(t testing.TB, c net.Conn) *wirePeer {
	t.Helper()
	p := &wirePeer{conn: wire.NewConn(c), frames: make(chan wire.Frame, 10000), readErr: make(chan error, 1)}
	var wg sync.WaitGroup
	wg.Go(func() {
		p.readErr <- p.conn.ReadLoop(func(f wire.Frame) {
			f.Payload = bytes.Clone(f.Payload)
			p.frames <- f
		})
	})
	t.Cleanup(func() {
		p.conn.Close()
		wg.Wait()
	})
	return p
}

func (p *wirePeer) recv(t testing.TB) wire.Frame {
	t.Helper()
	select {
	case f := <-p.frames:
		return f
	case <-time.After(wireWait):
		t.Fatal("no frame arrived")
		return wire.Frame{}
	}
}

func (p *wirePeer) waitReadErr(t testing.TB) error {
	t.Helper()
	select {
	case err := <-p.readErr:
		return err
	case <-time.After(wireWait):
		t.Fatal("ReadLoop did not return")
		return nil
	}
}

func waitDone(t testing.TB, c *wire.Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(wireWait):
		t.Fatal("Done was not closed")
	}
}

// unixPair returns the two ends of a connected Unix socket.
func unixPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	dir, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-accepted:
		return a, b
	case err := <-acceptErr:
		t.Fatal(err)
	case <-time.After(wireWait):
		t.Fatal("accept timed out")
	}
	return nil, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	r.Read(b)
	return b
}

func TestConnRoundTrip(t *testing.T) {
	frames := []wire.Frame{
		{Kind: wire.KindRequest, ID: 1, Payload: []byte("hello")},
		{Kind: wire.KindResponse, ID: 1, Payload: []byte{}},
		{Kind: wire.KindCancel, ID: 0},
		{Kind: wire.KindRequest, ID: math.MaxUint64, Payload: randomBytes(1 << 20)},
		{Kind: wire.KindResponse, ID: 1<<63 + 5, Payload: randomBytes(1<<20 + 1)},
		{Kind: 0xff, ID: 42, Payload: []byte{0}},
		{Kind: wire.KindRequest, ID: 2, Payload: []byte("after the large ones")},
	}
	transports := map[string]func(testing.TB) (net.Conn, net.Conn){
		"pipe": func(testing.TB) (net.Conn, net.Conn) { return net.Pipe() },
		"unix": unixPair,
	}
	for name, pair := range transports {
		t.Run(name, func(t *testing.T) {
			ca, cb := pair(t)
			a, b := startWirePeer(t, ca), startWirePeer(t, cb)
			for _, f := range frames {
				if err := a.conn.Send(f); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			// Both directions, in the order sent.
			for _, f := range frames {
				if err := b.conn.Send(f); err != nil {
					t.Fatalf("Send back: %v", err)
				}
			}
			for _, dir := range []struct {
				name string
				p    *wirePeer
			}{{"a to b", b}, {"b to a", a}} {
				for i, want := range frames {
					got := dir.p.recv(t)
					if got.Kind != want.Kind || got.ID != want.ID || !bytes.Equal(got.Payload, want.Payload) {
						t.Fatalf("%s frame %d: got kind %d id %d %d bytes, want kind %d id %d %d bytes",
							dir.name, i, got.Kind, got.ID, len(got.Payload), want.Kind, want.ID, len(want.Payload))
					}
				}
			}
			if a.conn.Err() != nil || b.conn.Err() != nil {
				t.Errorf("Err() = %v, %v on open connections, want nil", a.conn.Err(), b.conn.Err())
			}
		})
	}
}

func TestConnWireFormat(t *testing.T) {
	ca, raw := net.Pipe()
	a := startWirePeer(t, ca)
	// net.Pipe has no buffer: Send returns once the raw side has read the frame.
	sent := make(chan error, 1)
	go func() {
		sent <- a.conn.Send(wire.Frame{Kind: wire.KindResponse, ID: 0x0102030405060708, Payload: []byte("abc")})
	}()
	got := make([]byte, wire.HeaderSize+3)
	raw.SetReadDeadline(time.Now().Add(wireWait))
	if _, err := io.ReadFull(raw, got); err != nil {
		t.Fatal(err)
	}
	// Length uint32, kind byte, request ID uint64, big endian, then the payload.
	want := []byte{0, 0, 0, 3, wire.KindResponse, 1, 2, 3, 4, 5, 6, 7, 8, 'a', 'b', 'c'}
	if !bytes.Equal(got, want) {
		t.Errorf("on the wire: % x, want % x", got, want)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}

	// And a hand-made frame is read back.
	raw.SetWriteDeadline(time.Now().Add(wireWait))
	if _, err := raw.Write([]byte{0, 0, 0, 2, wire.KindRequest, 0, 0, 0, 0, 0, 0, 0, 9, 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	if f := a.recv(t); f.Kind != wire.KindRequest || f.ID != 9 || string(f.Payload) != "hi" {
		t.Errorf("read %+v, want request 9 \"hi\"", f)
	}
	raw.Close()
}

func TestConnConcurrentSenders(t *testing.T) {
	ca, cb := unixPair(t)
	a, b := startWirePeer(t, ca), startWirePeer(t, cb)
	const senders, each = 32, 200
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				id := uint64(s)<<32 | uint64(i)
				payload := fmt.Appendf(nil, "sender %d frame %d %s", s, i, strings.Repeat("x", i))
				if err := a.conn.Send(wire.Frame{Kind: wire.KindRequest, ID: id, Payload: payload}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Send: %v", err)
	}

	next := make([]int, senders) // each sender's frames arrive in the order it sent them
	for range senders * each {
		f := b.recv(t)
		s, i := int(f.ID>>32), int(f.ID&math.MaxUint32)
		if s >= senders || i != next[s] {
			t.Fatalf("frame %d of sender %d arrived, want frame %d", i, s, next[s])
		}
		next[s]++
		want := fmt.Sprintf("sender %d frame %d %s", s, i, strings.Repeat("x", i))
		if string(f.Payload) != want {
			t.Fatalf("sender %d frame %d: payload %q, want %q", s, i, f.Payload, want)
		}
	}
	select {
	case f := <-b.frames:
		t.Fatalf("an extra frame arrived: %+v", f)
	default:
	}
}

// writeHeader writes a frame header claiming n bytes of payload.
func writeHeader(t *testing.T, c net.Conn, n uint32, kind byte, id uint64) {
	t.Helper()
	var hdr [wire.HeaderSize]byte
	binary.BigEndian.PutUint32(hdr[0:4], n)
	hdr[4] = kind
	binary.BigEndian.PutUint64(hdr[5:13], id)
	c.SetWriteDeadline(time.Now().Add(wireWait))
	if _, err := c.Write(hdr[:]); err != nil {
		t.Fatalf("writing the header: %v", err)
	}
}

func TestReadLoopRejectsOversizeFrame(t *testing.T) {
	for _, n := range []uint32{wire.MaxPayload + 1, math.MaxUint32} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			cc, raw := net.Pipe()
			defer raw.Close()
			p := startWirePeer(t, cc)
			writeHeader(t, raw, n, wire.KindRequest, 1)

			err := p.waitReadErr(t)
			if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
				t.Fatalf("ReadLoop = %v, want the frame size refused", err)
			}
			waitDone(t, p.conn)
			if got := p.conn.Err(); got != err {
				t.Errorf("Err() = %v, want ReadLoop's %v", got, err)
			}
			if err := p.conn.Send(wire.Frame{Kind: wire.KindResponse, ID: 1}); !errors.Is(err, wire.ErrClosed) {
				t.Errorf("Send after the failure = %v, want ErrClosed", err)
			}
			// The connection itself was closed: the peer sees EOF.
			raw.SetReadDeadline(time.Now().Add(wireWait))
			if _, err := raw.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("peer read after the refusal: %v, want EOF", err)
			}
			select {
			case f := <-p.frames:
				t.Errorf("handle was called with %+v", f)
			default:
			}
		})
	}
}

func TestReadLoopAcceptsMaxPayloadHeader(t *testing.T) {
	// A header of exactly MaxPayload is within the limit: the loop waits for the body, and here
	// fails only because the peer closes before sending it.
	cc, raw := net.Pipe()
	p := startWirePeer(t, cc)
	writeHeader(t, raw, wire.MaxPayload, wire.KindRequest, 1)
	raw.Close()
	err := p.waitReadErr(t)
	if err == nil || strings.Contains(err.Error(), "exceeds") || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadLoop = %v, want a short frame (EOF), not a refusal", err)
	}
	waitDone(t, p.conn)
}

func TestReadLoopTruncatedHeader(t *testing.T) {
	cc, raw := net.Pipe()
	p := startWirePeer(t, cc)
	raw.SetWriteDeadline(time.Now().Add(wireWait))
	if _, err := raw.Write([]byte{0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if err := p.waitReadErr(t); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadLoop = %v, want io.ErrUnexpectedEOF", err)
	}
	waitDone(t, p.conn)
}

func TestConnClose(t *testing.T) {
	ca, cb := net.Pipe()
	a, b := startWirePeer(t, ca), startWirePeer(t, cb)

	if err := a.conn.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.conn.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitDone(t, a.conn)
	if err := a.conn.Send(wire.Frame{Kind: wire.KindRequest, ID: 1}); !errors.Is(err, wire.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := a.conn.Err(); !errors.Is(err, wire.ErrClosed) {
		t.Errorf("Err() after Close = %v, want ErrClosed", err)
	}
	a.waitReadErr(t) // the local ReadLoop ends too

	// The peer sees the close: its ReadLoop returns io.EOF and its Done closes.
	if err := b.waitReadErr(t); !errors.Is(err, io.EOF) {
		t.Errorf("peer ReadLoop = %v, want io.EOF", err)
	}
	waitDone(t, b.conn)
	if err := b.conn.Err(); !errors.Is(err, io.EOF) {
		t.Errorf("peer Err() = %v, want io.EOF", err)
	}
	if err := b.conn.Send(wire.Frame{Kind: wire.KindResponse, ID: 1}); !errors.Is(err, wire.ErrClosed) {
		t.Errorf("peer Send after the close = %v, want ErrClosed", err)
	}
}

func TestSendBlockedOnAPeerThatDoesNotReadEndsOnClose(t *testing.T) {
	ca, cb := net.Pipe() // unbuffered: a write blocks until the peer reads
	defer cb.Close()
	c := wire.NewConn(ca)
	blocked := make(chan error, 1)
	go func() { blocked <- c.Send(wire.Frame{Kind: wire.KindRequest, ID: 1, Payload: []byte("x")}) }()
	c.Close()
	select {
	case err := <-blocked:
		if !errors.Is(err, wire.ErrClosed) {
			t.Errorf("blocked Send = %v, want ErrClosed", err)
		}
	case <-time.After(wireWait):
		t.Fatal("Send stayed blocked after Close")
	}
}

func TestWriteFailureClosesConn(t *testing.T) {
	ca, cb := net.Pipe()
	cb.Close() // the peer is gone: the next write fails
	c := wire.NewConn(ca)
	if err := c.Send(wire.Frame{Kind: wire.KindRequest, ID: 1, Payload: []byte("x")}); !errors.Is(err, wire.ErrClosed) {
		t.Fatalf("Send to a closed peer = %v, want ErrClosed", err)
	}
	waitDone(t, c)
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "wire: write") {
		t.Errorf("Err() = %v, want the write failure", err)
	}
	if err := c.Send(wire.Frame{Kind: wire.KindRequest, ID: 2}); !errors.Is(err, wire.ErrClosed) {
		t.Errorf("Send after the failure = %v, want ErrClosed", err)
	}
}

func TestSendRefusesOversizedPayload(t *testing.T) {
	ca, cb := net.Pipe()
	defer cb.Close()
	c := wire.NewConn(ca)
	if err := c.Send(wire.Frame{Kind: wire.KindResponse, ID: 1, Payload: make([]byte, wire.MaxPayload+1)}); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("Send of an oversized payload = %v, want ErrTooLarge", err)
	}
	select {
	case <-c.Done():
		t.Fatal("an oversized payload closed the connection")
	default:
	}
}

// TestReadLoopReusesPayloadBuffer shows why handle must copy what it keeps: the loop reads the
// next frame into the same memory.
func TestReadLoopReusesPayloadBuffer(t *testing.T) {
	ca, cb := net.Pipe()
	sender := startWirePeer(t, ca)
	c := wire.NewConn(cb)
	kept := make(chan []byte, 2)
	loop := make(chan error, 1)
	go func() {
		loop <- c.ReadLoop(func(f wire.Frame) { kept <- f.Payload }) // no copy: wrong on purpose
	}()
	defer func() {
		c.Close()
		<-loop
	}()

	sender.conn.Send(wire.Frame{Kind: wire.KindRequest, ID: 1, Payload: []byte("first")})
	sender.conn.Send(wire.Frame{Kind: wire.KindRequest, ID: 2, Payload: []byte("SECND")})
	var first, second []byte
	for i, dst := range []*[]byte{&first, &second} {
		select {
		case *dst = <-kept:
		case <-time.After(wireWait):
			t.Fatalf("frame %d not handled", i+1)
		}
	}
	if string(second) != "SECND" {
		t.Fatalf("second payload = %q", second)
	}
	if string(first) != "SECND" {
		t.Errorf("first payload kept past handle = %q; the loop no longer reuses its buffer, "+
			"so this test (not the contract) is out of date", first)
	}
}

// TestSendAllFramesArriveTogether: frames sent by one SendAll leave in one write, so the
// reader is told of each but the last that the next one is already there.
func TestSendAllFramesArriveTogether(t *testing.T) {
	ca, cb := unixPair(t)
	a, b := startWirePeer(t, ca), startWirePeer(t, cb)
	frames := []wire.Frame{
		{Kind: wire.KindResponse, ID: 1, Payload: []byte("one")},
		{Kind: wire.KindResponse, ID: 2, Payload: []byte{}},
		{Kind: wire.KindResponse, ID: 3, Payload: []byte("three")},
	}
	if err := a.conn.SendAll(frames); err != nil {
		t.Fatal(err)
	}
	for i, want := range frames {
		got := b.recv(t)
		if got.ID != want.ID || !bytes.Equal(got.Payload, want.Payload) || got.More != (i < len(frames)-1) {
			t.Fatalf("frame %d: got id %d %q more=%v, want id %d %q more=%v",
				i, got.ID, got.Payload, got.More, want.ID, want.Payload, i < len(frames)-1)
		}
	}
	if err := a.conn.SendAll([]wire.Frame{{Kind: wire.KindResponse, ID: 4}, {ID: 5, Payload: make([]byte, wire.MaxPayload+1)}}); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("SendAll with a payload over the limit: %v, want ErrTooLarge", err)
	}
	if err := a.conn.Send(wire.Frame{Kind: wire.KindResponse, ID: 6}); err != nil {
		t.Fatal(err)
	}
	if got := b.recv(t); got.ID != 6 {
		t.Fatalf("after the refused SendAll got frame %d, want 6 (nothing of the refused call)", got.ID)
	}
}
