package memory

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/triggers"
)

// qmsg is a message held by a queue: ready, delivered and unacknowledged, or waiting for a
// retry.
type qmsg struct {
	msg      triggers.Message
	seq      uint64    // publish order within the queue
	attempts int       // deliveries so far
	due      time.Time // when a retried message is ready again
	// scheduled marks a delayed message (PublishDelayed) not yet due, which CancelDelayed
	// may remove.
	scheduled bool
}

// queue is a named queue: FIFO within each priority level, highest level first.
type queue struct {
	name string
	max  int // bound on size

	mu        sync.Mutex // guards the fields below
	declared  bool       // a consumer has fixed maxPrio
	maxPrio   int
	levels    []ring[*qmsg] // ready messages; levels[p] holds priority p
	ready     int           // messages in levels
	delayed   delayHeap     // retried and delayed messages, soonest due first
	scheduled int           // delayed messages in delayed (PublishDelayed), not lag
	size      int           // ready, delayed and held by consumers: what max bounds
	seq       uint64
	changed   signal // broadcast when a message becomes ready or a consumer gets room
}

func newQueue(name string, max int) *queue {
	return &queue{name: name, max: max, levels: make([]ring[*qmsg], 1)}
}

// declare fixes the queue's maximum priority, as the first consumer declares it. A queue
// that only publishers have touched so far takes the consumer's value and re-orders what it
// holds; a declared queue refuses another value, as RabbitMQ refuses inequivalent arguments.
func (q *queue) declare(maxPrio int) error {
	if q.declared {
		if maxPrio != q.maxPrio {
			return fmt.Errorf("declared with max priority %d, not %d", q.maxPrio, maxPrio)
		}
		return nil
	}
	q.declared = true
	if maxPrio == q.maxPrio {
		return nil
	}
	old := q.levels
	q.maxPrio, q.levels, q.ready = maxPrio, make([]ring[*qmsg], maxPrio+1), 0
	for _, l := range old {
		for l.len() > 0 {
			q.pushReady(l.popFront())
		}
	}
	return nil
}

// level is the priority level of m: its priority capped at the queue's maximum, as RabbitMQ
// caps it; always 0 on a queue without priorities.
func (q *queue) level(m *qmsg) int {
	return min(max(m.msg.Priority, 0), q.maxPrio)
}

func (q *queue) pushReady(m *qmsg) {
	q.levels[q.level(m)].pushBack(m)
	q.ready++
}

// popReady removes the next message to deliver; nil when none is ready.
func (q *queue) popReady() *qmsg {
	for p := len(q.levels) - 1; p >= 0; p-- {
		if q.levels[p].len() > 0 {
			q.ready--
			return q.levels[p].popFront()
		}
	}
	return nil
}

// requeue puts messages a consumer held back at the front of their levels, in publish
// order, as RabbitMQ requeues the unacknowledged messages of a closed channel.
func (q *queue) requeue(ms []*qmsg) {
	slices.SortFunc(ms, func(a, b *qmsg) int { return cmp.Compare(b.seq, a.seq) })
	for _, m := range ms {
		q.levels[q.level(m)].pushFront(m)
		q.ready++
	}
	if len(ms) > 0 {
		q.changed.broadcast()
	}
}

// promoteDue makes the retried messages whose delay has passed ready again, behind what is
// already ready. Every operation that looks at the ready messages calls it first, so a
// retried message takes its place in line when its delay ends, with no timer.
func (q *queue) promoteDue(now time.Time) {
	for len(q.delayed) > 0 && !q.delayed[0].due.After(now) {
		m := heap.Pop(&q.delayed).(*qmsg)
		if m.scheduled {
			m.scheduled = false
			q.scheduled--
		}
		q.pushReady(m)
	}
}

// nextDue returns when the next retried message is due; zero when none waits.
func (q *queue) nextDue() time.Time {
	if len(q.delayed) == 0 {
		return time.Time{}
	}
	return q.delayed[0].due
}

// room checks that n more messages fit.
func (q *queue) room(n int) error {
	if q.size+n > q.max {
		return fmt.Errorf("queue %q: %w: it holds %d of %d messages", q.name, ErrFull, q.size, q.max)
	}
	return nil
}

// publish adds copies of ms, all or none, filling IDs and times.
func (q *queue) publish(now time.Time, ms ...*triggers.Message) error {
	if err := q.room(len(ms)); err != nil {
		return err
	}
	q.promoteDue(now)
	for _, m := range ms {
		c := copyMessage(m)
		if c.ID == "" {
			c.ID = id.New()
		}
		if c.Time.IsZero() {
			c.Time = now
		}
		q.add(c)
	}
	q.changed.broadcast()
	return nil
}

// add appends an owned message as ready; the caller has checked room and broadcasts.
func (q *queue) add(m triggers.Message) {
	q.seq++
	q.pushReady(&qmsg{msg: m, seq: q.seq})
	q.size++
}

// readyBySeq returns the ready messages, oldest first.
func (q *queue) readyBySeq() []*qmsg {
	out := make([]*qmsg, 0, q.ready)
	for _, l := range q.levels {
		for i := range l.len() {
			out = append(out, l.at(i))
		}
	}
	slices.SortFunc(out, func(a, b *qmsg) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// removeReady removes the given ready messages.
func (q *queue) removeReady(gone map[*qmsg]bool) {
	for p := range q.levels {
		l := &q.levels[p]
		for range l.len() {
			if m := l.popFront(); !gone[m] {
				l.pushBack(m)
			}
		}
	}
	q.ready -= len(gone)
	q.size -= len(gone)
}

// PublishQueue appends copies of msgs to the queue, creating it when missing, all or none:
// when they do not all fit under Options.MaxQueueLength it returns an error wrapping ErrFull
// and publishes nothing. It fills an empty ID with a random 128-bit hex ID and a zero Time
// with the current time in the copies; msgs themselves are not modified.
func (b *Broker) PublishQueue(ctx context.Context, name string, msgs ...*triggers.Message) error {
	if err := checkPublish(ctx, name, msgs); err != nil {
		return fmt.Errorf("memory: publish to queue %q: %w", name, err)
	}
	q, err := b.queue(name, true)
	if err != nil {
		return fmt.Errorf("memory: publish to queue %q: %w", name, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.publish(time.Now(), msgs...); err != nil {
		return fmt.Errorf("memory: publish: %w", err)
	}
	return nil
}

// PublishReply publishes a copy of msg to the queue replyTo when it exists (a consumer or a
// publisher made it), and otherwise returns an error wrapping triggers.ErrNoReplyQueue, as
// RabbitMQ returns a reply whose queue is gone.
func (b *Broker) PublishReply(ctx context.Context, replyTo string, msg *triggers.Message) error {
	if err := checkPublish(ctx, replyTo, []*triggers.Message{msg}); err != nil {
		return fmt.Errorf("memory: reply to %q: %w", replyTo, err)
	}
	q, err := b.queue(replyTo, false)
	if err != nil {
		return fmt.Errorf("memory: reply to %q: %w", replyTo, err)
	}
	if q == nil {
		return fmt.Errorf("memory: reply to %q: %w", replyTo, triggers.ErrNoReplyQueue)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.publish(time.Now(), msg); err != nil {
		return fmt.Errorf("memory: reply: %w", err)
	}
	return nil
}

func checkPublish(ctx context.Context, name string, msgs []*triggers.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "" {
		return errors.New("no name")
	}
	for i, m := range msgs {
		if m == nil {
			return fmt.Errorf("message %d is nil", i)
		}
	}
	return nil
}

// ConsumeQueue opens a consumer of the queue, creating the queue when missing. The first
// consumer declares the queue's maximum priority; a later one that asks for another is
// refused, as RabbitMQ does.
func (b *Broker) ConsumeQueue(ctx context.Context, opts triggers.QueueOptions) (triggers.Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: consume queue %q: %w", opts.Queue, err)
	}
	if err := checkQueueOptions(&opts); err != nil {
		return nil, fmt.Errorf("memory: consume queue %q: %w", opts.Queue, err)
	}
	q, err := b.queue(opts.Queue, true)
	if err != nil {
		return nil, fmt.Errorf("memory: consume queue %q: %w", opts.Queue, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.declare(opts.MaxPriority); err != nil {
		return nil, fmt.Errorf("memory: consume queue %q: %w", opts.Queue, err)
	}
	return &queueSource{
		b: b, q: q, dlq: opts.DeadLetter, prefetch: opts.Prefetch,
		closedCh: make(chan struct{}), held: map[*qmsg]struct{}{},
	}, nil
}

// checkQueueOptions validates opts and fills its defaults.
func checkQueueOptions(opts *triggers.QueueOptions) error {
	var errs []error
	if opts.Queue == "" {
		errs = append(errs, errors.New("queue: required"))
	}
	if opts.Prefetch < 0 {
		errs = append(errs, fmt.Errorf("prefetch: %d: must be >= 0", opts.Prefetch))
	}
	if opts.MaxPriority < 0 || opts.MaxPriority > MaxPriority {
		errs = append(errs, fmt.Errorf("maxPriority: %d: must be between 0 and %d", opts.MaxPriority, MaxPriority))
	}
	if opts.DeadLetter == "" {
		opts.DeadLetter = opts.Queue + ".dlq"
	}
	if opts.DeadLetter == opts.Queue {
		errs = append(errs, errors.New("deadLetter: must not be the queue itself"))
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = DefaultPrefetch
	}
	return errors.Join(errs...)
}

// delayHeap orders retried messages by due time (container/heap).
type delayHeap []*qmsg

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if c := h[i].due.Compare(h[j].due); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(*qmsg)) }
func (h *delayHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return m
}
