package ws

import (
	"sync"
	"unicode/utf8"
)

// sendQueue is a connection's bounded outbox and the switch of its writer. Enqueuing never
// blocks: when the queue is over its limits the connection is marked slow and the writer
// closes it with 4008. The writer goroutine runs only while there is something to write,
// at most one at a time, so an idle connection holds neither a goroutine nor a buffer.
//
// When nothing is queued and no writer runs, push first offers the frame to direct, which
// writes it at once if the socket takes it without waiting (wire.tryWrite): most frames then
// need no goroutine at all. Frames are whole WebSocket frames (textFrame).
type sendQueue struct {
	mu       sync.Mutex
	frames   [][]byte
	bytes    int
	ping     bool        // a ping is due
	flush    bool        // a direct write left part of a frame for the writer to finish
	closing  *closeFrame // set once; the writer sends it after what is queued (or instead)
	maxLen   int
	maxBytes int

	running bool          // a writer is running
	stopped bool          // no writer may start again: the connection is ending
	done    chan struct{} // closed when the running writer returns
	start   func()        // starts a writer goroutine
	// direct, when set, writes a frame without blocking (see wire.tryWrite). Set before use.
	direct func(frame []byte) (wrote, rest bool)
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

// newSendQueue returns a queue whose writer start runs (in a goroutine of its own).
func newSendQueue(maxLen, maxBytes int, start func()) *sendQueue {
	return &sendQueue{maxLen: maxLen, maxBytes: maxBytes, start: start}
}

// wakeLocked reports whether the caller must start a writer (and marks it running).
func (q *sendQueue) wakeLocked() bool {
	if q.running || q.stopped {
		return false
	}
	q.running, q.done = true, make(chan struct{})
	return true
}

func (q *sendQueue) unlockAndWake() {
	start := q.wakeLocked()
	q.mu.Unlock()
	if start {
		go q.start()
	}
}

// push queues frame. It reports false when the connection is closing, or when the queue
// overflowed, in which case the connection is now closing with 4008.
func (q *sendQueue) push(frame []byte) (ok, overflow bool) {
	q.mu.Lock()
	if q.closing != nil {
		q.mu.Unlock()
		return false, false
	}
	if q.direct != nil && !q.running && !q.stopped && len(q.frames) == 0 {
		// Under q.mu, so that nothing queued meanwhile overtakes the frame.
		if wrote, rest := q.direct(frame); wrote {
			if rest {
				q.flush = true
				q.unlockAndWake()
			} else {
				q.mu.Unlock()
			}
			return true, false
		}
	}
	if len(q.frames) >= q.maxLen || q.bytes+len(frame) > q.maxBytes {
		q.closing = &closeFrame{code: CloseSlow, reason: "slow: send queue full", drop: true}
		q.frames, q.bytes = nil, 0
		q.unlockAndWake()
		return false, true
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	q.unlockAndWake()
	return true, false
}

// pingDue asks the writer for a ping.
func (q *sendQueue) pingDue() {
	q.mu.Lock()
	if q.closing != nil {
		q.mu.Unlock()
		return
	}
	q.ping = true
	q.unlockAndWake()
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
	q.unlockAndWake()
	return true
}

// closingCode is the code of the close asked for, 0 when none was.
func (q *sendQueue) closingCode() int {
	code, _ := q.closedWith()
	return code
}

// closedWith is the close asked for, (0, "") when none was.
func (q *sendQueue) closedWith() (int, string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing == nil {
		return 0, ""
	}
	return q.closing.code, q.closing.reason
}

// take returns what the writer should write now: frames, then a ping, then the close (and
// before all, whatever a direct write left pending). When there is nothing, the writer is
// marked stopped and must return (idle is true).
func (q *sendQueue) take() (frames [][]byte, ping bool, closing *closeFrame, idle bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	frames, ping, closing = q.frames, q.ping, q.closing
	flush := q.flush
	q.frames, q.bytes, q.ping, q.flush = nil, 0, false, false
	if len(frames) == 0 && !ping && closing == nil && !flush {
		if q.running {
			q.running = false
			close(q.done)
		}
		return nil, false, nil, true
	}
	return frames, ping, closing, false
}

// finish marks the writer returned for good (after a close or a failed write): no writer
// starts again.
func (q *sendQueue) finish() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	if q.running {
		q.running = false
		close(q.done)
	}
}

// stop makes sure no writer starts again and returns a channel closed once the running
// writer (if any) returned.
func (q *sendQueue) stop() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	if q.running {
		return q.done
	}
	done := make(chan struct{})
	close(done)
	return done
}
