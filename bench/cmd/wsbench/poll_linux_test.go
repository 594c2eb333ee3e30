package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// serverFrame is payload as one unmasked final text frame.
func serverFrame(payload []byte) []byte {
	n := len(payload)
	var h []byte
	switch {
	case n < 126:
		h = []byte{0x81, byte(n)}
	case n <= 0xffff:
		h = []byte{0x81, 126, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h = make([]byte, 10)
		h[0], h[1] = 0x81, 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	return append(h, payload...)
}

func TestNextFrame(t *testing.T) {
	payloads := [][]byte{[]byte("hello"), bytes.Repeat([]byte("a"), 200), bytes.Repeat([]byte("b"), 70_000), {}}
	var stream []byte
	for _, p := range payloads {
		stream = append(stream, serverFrame(p)...)
	}
	// Every cut of the stream: the frames before it come out whole, the one it splits waits.
	for _, cut := range []int{0, 1, 3, 7, 8, 9, 210, 211, 70_000, len(stream) - 1, len(stream)} {
		data := stream[:cut]
		var got [][]byte
		for {
			frame, payload, ok := nextFrame(data)
			if !ok {
				break
			}
			got = append(got, payload)
			data = data[len(frame):]
		}
		for i, p := range got {
			if !bytes.Equal(p, payloads[i]) {
				t.Fatalf("cut %d: frame %d has %d bytes, want %d", cut, i, len(p), len(payloads[i]))
			}
		}
		if cut == len(stream) && len(got) != len(payloads) {
			t.Fatalf("whole stream: %d frames, want %d", len(got), len(payloads))
		}
	}
}
