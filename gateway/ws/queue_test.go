package ws

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSendQueueBounds(t *testing.T) {
	q := newSendQueue(3, 100)
	for i := 0; i < 3; i++ {
		if ok, over := q.push([]byte("x")); !ok || over {
			t.Fatalf("push %d: ok=%v overflow=%v", i, ok, over)
		}
	}
	if ok, over := q.push([]byte("x")); ok || !over {
		t.Fatalf("fourth push: ok=%v overflow=%v, want an overflow", ok, over)
	}
	frames, closing := q.take()
	if len(frames) != 0 || closing == nil || closing.code != CloseSlow {
		t.Fatalf("after overflow: %d frames, close %+v; want none queued and 4008", len(frames), closing)
	}
	if ok, over := q.push([]byte("x")); ok || over {
		t.Fatal("a closing queue took a frame")
	}

	q = newSendQueue(10, 10)
	q.push([]byte("12345"))
	if _, over := q.push([]byte("123456")); !over {
		t.Fatal("the byte bound did not hold")
	}
}

func TestSendQueueCloseAfterQueued(t *testing.T) {
	q := newSendQueue(10, 1000)
	q.push([]byte("a"))
	q.push([]byte("b"))
	if !q.close(CloseGoingAway, "bye", false) {
		t.Fatal("first close lost")
	}
	if q.close(CloseSlow, "again", true) {
		t.Fatal("a second close won")
	}
	frames, closing := q.take()
	if len(frames) != 2 || closing.code != CloseGoingAway {
		t.Fatalf("got %d frames and %+v; want a, b then 1001", len(frames), closing)
	}
	select {
	case <-q.wake:
	default:
		t.Fatal("the writer was not woken")
	}
}

func TestTruncateReason(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := truncateReason(long)
	if len(got) > maxReason || !utf8.ValidString(got) {
		t.Fatalf("reason of %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}
