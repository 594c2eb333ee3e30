package ws

import (
	"sync"
	"unicode/utf8"
)

// sendQueue is a connection's bounded outbox. Enqueuing never blocks: when the queue is
// over its limits the connection is marked slow and the writer closes it with 4008. It
// holds no memory while empty, so idle connections stay small.
type sendQueue struct {
	mu       sync.Mutex
	frames   [][]byte
	bytes    int
	closing  *closeFrame // set once; the writer sends it after what is queued (or instead)
	maxLen   int
	maxBytes int
	wake     chan struct{} // capacity 1: the writer has something to do
}

// closeFrame is a close the writer sends, then ends the connection.
type closeFrame struct {
	code   int
	reason string
	// drop discards what is still queued (a slow client gets its close at once).
	drop bool
}

// maxReason bounds a close reason: a close frame's payload is at most 125 bytes.
const maxReason = 120

func truncateReason(s string) string {
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func newSendQueue(maxLen, maxBytes int) *sendQueue {
	return &sendQueue{maxLen: maxLen, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// push queues frame. It reports false when the connection is closing, or when the queue
// overflowed, in which case the connection is now closing with 4008.
func (q *sendQueue) push(frame []byte) (ok, overflow bool) {
	q.mu.Lock()
	if q.closing != nil {
		q.mu.Unlock()
		return false, false
	}
	if len(q.frames) >= q.maxLen || q.bytes+len(frame) > q.maxBytes {
		q.closing = &closeFrame{code: CloseSlow, reason: "slow: send queue full", drop: true}
		q.frames, q.bytes = nil, 0
		q.mu.Unlock()
		q.signal()
		return false, true
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	q.mu.Unlock()
	q.signal()
	return true, false
}

// close asks the writer to send a close frame after the frames already queued (or at once
// when drop). The first close wins; it reports whether this one did.
func (q *sendQueue) close(code int, reason string, drop bool) bool {
	q.mu.Lock()
	if q.closing != nil {
		q.mu.Unlock()
		return false
	}
	q.closing = &closeFrame{code: code, reason: truncateReason(reason), drop: drop}
	if drop {
		q.frames, q.bytes = nil, 0
	}
	q.mu.Unlock()
	q.signal()
	return true
}

// take returns what the writer should write now, and the close to send after it.
func (q *sendQueue) take() ([][]byte, *closeFrame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	frames := q.frames
	q.frames, q.bytes = nil, 0
	return frames, q.closing
}

func (q *sendQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
