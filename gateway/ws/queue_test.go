package ws

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSendQueueBounds(t *testing.T) {
	q := newSendQueue(3, 100, func() {})
	for i := 0; i < 3; i++ {
		if ok, over := q.push([]byte("x")); !ok || over {
			t.Fatalf("push %d: ok=%v overflow=%v", i, ok, over)
		}
	}
	if ok, over := q.push([]byte("x")); ok || !over {
		t.Fatalf("fourth push: ok=%v overflow=%v, want an overflow", ok, over)
	}
	frames, _, closing, _ := q.take()
	if len(frames) != 0 || closing == nil || closing.code != CloseSlow {
		t.Fatalf("after overflow: %d frames, close %+v; want none queued and 4008", len(frames), closing)
	}
	if ok, over := q.push([]byte("x")); ok || over {
		t.Fatal("a closing queue took a frame")
	}

	q = newSendQueue(10, 10, func() {})
	q.push([]byte("12345"))
	if _, over := q.push([]byte("123456")); !over {
		t.Fatal("the byte bound did not hold")
	}
}

func TestSendQueueCloseAfterQueued(t *testing.T) {
	q := newSendQueue(10, 1000, func() {})
	q.push([]byte("a"))
	q.push([]byte("b"))
	if !q.close(CloseGoingAway, "bye", false) {
		t.Fatal("first close lost")
	}
	if q.close(CloseSlow, "again", true) {
		t.Fatal("a second close won")
	}
	frames, _, closing, _ := q.take()
	if len(frames) != 2 || closing.code != CloseGoingAway {
		t.Fatalf("got %d frames and %+v; want a, b then 1001", len(frames), closing)
	}
}

// TestSendQueueWriter checks that a writer runs only while there is work, one at a time,
// and never after stop.
func TestSendQueueWriter(t *testing.T) {
	starts := make(chan struct{}, 10)
	q := newSendQueue(10, 1000, func() { starts <- struct{}{} })
	q.push([]byte("a"))
	q.push([]byte("b"))
	<-starts // one writer for both
	q.mu.Lock()
	running := q.running
	q.mu.Unlock()
	if !running {
		t.Fatal("a push did not start a writer")
	}
	if frames, _, _, idle := q.take(); len(frames) != 2 || idle {
		t.Fatalf("take: %d frames, idle %v", len(frames), idle)
	}
	if _, _, _, idle := q.take(); !idle {
		t.Fatal("an empty queue did not stop its writer")
	}
	// The writer stopped; a due ping starts the next one (asynchronously), only one.
	q.pingDue()
	q.pingDue()
	<-starts
	if _, ping, _, _ := q.take(); !ping {
		t.Fatal("a due ping was not handed to the writer")
	}
	q.take()
	if len(starts) != 0 {
		t.Fatalf("%d more writers started while one ran", len(starts))
	}
	done := q.stop()
	select {
	case <-done:
	default:
		t.Fatal("stop waited with no writer running")
	}
	q.push([]byte("c"))
	q.mu.Lock()
	running = q.running
	q.mu.Unlock()
	if running {
		t.Fatal("a writer started after stop")
	}
}

func TestTruncateReason(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := truncateReason(long)
	if len(got) > maxReason || !utf8.ValidString(got) {
		t.Fatalf("reason of %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}
