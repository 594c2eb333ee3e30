package ws

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// framePayload checks that f is one final, unmasked text frame and returns its payload.
func framePayload(t *testing.T, f []byte) []byte {
	t.Helper()
	if len(f) < 2 || f[0] != 0x81 || f[1]&0x80 != 0 {
		t.Fatalf("not an unmasked final text frame: % x", f[:min(len(f), 10)])
	}
	n, h := uint64(f[1]), 2
	switch n {
	case 126:
		n, h = uint64(binary.BigEndian.Uint16(f[2:])), 4
	case 127:
		n, h = binary.BigEndian.Uint64(f[2:]), 10
	}
	if uint64(len(f)-h) != n {
		t.Fatalf("frame says %d bytes of payload, holds %d", n, len(f)-h)
	}
	return f[h:]
}

func TestTextFrameLengths(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xffff, 0x10000, 70 << 10} {
		p := bytes.Repeat([]byte("x"), n)
		if got := framePayload(t, textFrame(p)); !bytes.Equal(got, p) {
			t.Fatalf("%d bytes: payload changed", n)
		}
	}
}

// TestWireDirectWriteFinishedByWriter fills a socket that nobody reads until a direct write
// takes only part of a frame, then checks that further direct writes refuse, that the rest
// goes out before anything written after it, and that the reader sees whole frames in order.
func TestWireDirectWriteFinishedByWriter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	defer server.Close()
	w := newWire(server, nil)
	if w.raw == nil {
		t.Fatal("a TCP connection has no syscall.RawConn")
	}

	frame := textFrame([]byte(strings.Repeat("y", 60<<10)))
	var sent [][]byte
	for i := 0; ; i++ {
		if i > 10_000 {
			t.Fatal("the socket never filled")
		}
		wrote, rest := w.tryWrite(frame)
		if !wrote {
			t.Fatal("a direct write refused before any part was left")
		}
		sent = append(sent, frame)
		if rest {
			break
		}
	}
	if wrote, _ := w.tryWrite(frame); wrote {
		t.Fatal("a direct write went while a frame was half written")
	}
	last := textFrame([]byte("last"))
	sent = append(sent, last)
	done := make(chan error, 1)
	go func() {
		_ = w.SetWriteDeadline(time.Now().Add(10 * time.Second))
		done <- w.writeFrames([][]byte{last})
	}()

	want := bytes.Join(sent, nil)
	got := make([]byte, len(want))
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the client read the frames out of order or cut")
	}
	if wrote, rest := w.tryWrite(last); !wrote || rest {
		t.Fatalf("a direct write on an empty socket: wrote %v, rest %v", wrote, rest)
	}
	_ = w.SetWriteDeadline(time.Now().Add(-time.Second))
	if wrote, _ := w.tryWrite(last); wrote {
		t.Fatal("a direct write went past the write deadline")
	}
	_ = w.SetWriteDeadline(time.Time{})
	if wrote, rest := w.tryWrite(last); !wrote || rest {
		t.Fatalf("a direct write with no deadline: wrote %v, rest %v", wrote, rest)
	}
	w.Close()
	if wrote, _ := w.tryWrite(last); wrote {
		t.Fatal("a direct write went to a closed socket")
	}
}

// TestWireWithoutDescriptor: a connection that gives no syscall.RawConn (net.Pipe here, a
// TLS connection in life) takes no direct write, and every frame reaches the client through
// the connection's writer, in order.
func TestWireWithoutDescriptor(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	w := newWire(server, nil)
	defer w.Close()
	if w.raw != nil {
		t.Fatal("net.Pipe gave a syscall.RawConn")
	}
	var q *sendQueue
	writerDone := make(chan error, 1)
	q = newSendQueue(10, 1<<20, func() {
		for {
			frames, _, _, idle := q.take()
			if idle {
				return
			}
			if err := w.writeFrames(frames); err != nil {
				writerDone <- err
				return
			}
		}
	})
	q.direct = w.tryWrite
	var want []byte
	for _, p := range []string{"one", "two", "three"} {
		f := textFrame([]byte(p))
		if wrote, _ := w.tryWrite(f); wrote {
			t.Fatal("a direct write went without a descriptor")
		}
		if ok, overflow := q.push(f); !ok || overflow {
			t.Fatalf("push %s: ok %v, overflow %v", p, ok, overflow)
		}
		want = append(want, f...)
	}
	got := make([]byte, len(want))
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the client read %q, want %q", got, want)
	}
	<-q.stop()
	select {
	case err := <-writerDone:
		t.Fatal(err)
	default:
	}
}
