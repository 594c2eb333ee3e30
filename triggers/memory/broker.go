// Package memory is edgefn's embedded queue and stream backend, the default when no broker
// is configured (docs/cli.md). One [Broker] holds named queues (RabbitMQ's semantics: prefetch,
// priorities, requeue on close) and named streams with consumer groups (Redis Streams'
// semantics: entry IDs, pending lists, claiming), plus their dead letters.
//
// Messages enter through PublishQueue and PublishStream, leave through the Sources that
// ConsumeQueue and ConsumeStream open, and are settled there (Ack, Retry, DeadLetter). Nothing
// survives the process: the broker keeps the real backends' delivery semantics, not their
// durability.
//
// The broker runs no goroutines. A blocked Receive waits on a channel that publishers close,
// and on its own timer for the next retry or claim that falls due; Close wakes it.
//
// [Topics], a separate value, is the embedded WebSocket fan-out: publications enter through
// PublishTopic, numbered per topic, and leave through the listeners of ListenTopics and,
// for recovery, through TopicHistory.
package memory

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

var (
	_ triggers.Queues      = (*Broker)(nil)
	_ triggers.Streams     = (*Broker)(nil)
	_ triggers.DeadLetters = (*Broker)(nil)
)

// Defaults of Options.
const (
	DefaultMaxQueueLength  = 100_000
	DefaultMaxStreamLength = 100_000
	DefaultPrefetch        = 16
	DefaultClaimAfter      = 30 * time.Second
	// MaxPriority is the highest QueueOptions.MaxPriority a queue may declare, as in RabbitMQ.
	MaxPriority = 255
)

var (
	// ErrFull is returned (wrapped) when a queue holds Options.MaxQueueLength messages.
	ErrFull = errors.New("queue full")
	// ErrBrokerClosed is returned (wrapped) by every operation but Receive after Close;
	// Receive returns triggers.ErrClosed.
	ErrBrokerClosed = errors.New("memory broker closed")
	// ErrNotHeld is returned (wrapped) when a delivery is settled by a consumer that no longer
	// holds it: it was settled already, claimed by another consumer of its group, or trimmed
	// or purged from its stream.
	ErrNotHeld = errors.New("delivery not held by this consumer")
)

// Options configure a Broker. The zero value is valid.
type Options struct {
	// MaxQueueLength bounds the messages one queue holds: ready, unacknowledged and waiting
	// for a retry. PublishQueue fails with ErrFull rather than go beyond it. Zero or less
	// means DefaultMaxQueueLength.
	MaxQueueLength int
	// MaxStreamLength bounds the entries one stream keeps; appending beyond it trims the
	// oldest, as Redis' XADD MAXLEN does, even when a group has not read them yet. Zero or
	// less means DefaultMaxStreamLength.
	MaxStreamLength int
}

func (o *Options) setDefaults() {
	if o.MaxQueueLength <= 0 {
		o.MaxQueueLength = DefaultMaxQueueLength
	}
	if o.MaxStreamLength <= 0 {
		o.MaxStreamLength = DefaultMaxStreamLength
	}
}

// Broker is the embedded backend: triggers.Queues, triggers.Streams and triggers.DeadLetters
// in one value. It is safe for concurrent use.
type Broker struct {
	opts Options
	done chan struct{} // closed by Close

	mu      sync.Mutex // guards the fields below
	closed  bool
	queues  map[string]*queue
	streams map[string]*stream
}

// New returns an empty broker. It starts no goroutines.
func New(opts Options) *Broker {
	opts.setDefaults()
	return &Broker{
		opts:    opts,
		done:    make(chan struct{}),
		queues:  map[string]*queue{},
		streams: map[string]*stream{},
	}
}

// Close discards every queue and stream and makes blocked and later Receives return
// triggers.ErrClosed. The broker owns no goroutines or timers, so there is nothing to wait
// for. Close is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.done)
	b.queues, b.streams = nil, nil
	return nil
}

// queue returns the named queue, creating it when create is set; nil when it does not exist.
func (b *Broker) queue(name string, create bool) (*queue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	q := b.queues[name]
	if q == nil && create {
		q = newQueue(name, b.opts.MaxQueueLength)
		b.queues[name] = q
	}
	return q, nil
}

// stream returns the named stream, creating it when create is set; nil when it does not
// exist.
func (b *Broker) stream(name string, create bool) (*stream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	s := b.streams[name]
	if s == nil && create {
		s = newStream(name, b.opts.MaxStreamLength)
		b.streams[name] = s
	}
	return s, nil
}

// isClosed reports whether Close was called, without taking the broker's lock.
func (b *Broker) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// lockPair locks two mutexes in a fixed order (by name) so that two operations that each
// touch the same two queues or streams cannot deadlock; a and b may be the same.
func lockPair(an string, a *sync.Mutex, bn string, b *sync.Mutex) (unlock func()) {
	switch {
	case a == b:
		a.Lock()
		return a.Unlock
	case an < bn:
		a.Lock()
		b.Lock()
	default:
		b.Lock()
		a.Lock()
	}
	return func() { a.Unlock(); b.Unlock() }
}

// copyMessage copies m deeply enough that neither the publisher nor a handler can change
// what the broker holds: Data and Headers are cloned.
func copyMessage(m *triggers.Message) triggers.Message {
	c := *m
	c.Data = slices.Clone(m.Data)
	c.Headers = cloneHeaders(m.Headers)
	return c
}

// cloneHeaders copies h; for the few headers a message has this is several times cheaper
// than maps.Clone, which copies the whole table.
func cloneHeaders(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	c := make(map[string]string, len(h))
	for k, v := range h {
		c[k] = v
	}
	return c
}

// Header names added to dead-lettered messages (docs/events.md).
const (
	headerError    = "error"
	headerAttempts = "attempts"
)

// deadLettered returns a copy of m with the reason and attempts added to its headers.
func deadLettered(m *triggers.Message, reason string, attempts int) triggers.Message {
	c := copyMessage(m)
	if c.Headers == nil {
		c.Headers = make(map[string]string, 2)
	}
	c.Headers[headerError] = reason
	c.Headers[headerAttempts] = strconv.Itoa(attempts)
	return c
}

// deadMessage turns a dead-lettered message into a DeadMessage: error and attempts move
// from the headers to their fields.
func deadMessage(m *triggers.Message) triggers.DeadMessage {
	d := triggers.DeadMessage{Message: revived(m), Error: m.Headers[headerError]}
	d.Attempts, _ = strconv.Atoi(m.Headers[headerAttempts])
	return d
}

// revived returns a copy of a dead-lettered message without the headers dead-lettering added.
func revived(m *triggers.Message) triggers.Message {
	c := copyMessage(m)
	delete(c.Headers, headerError)
	delete(c.Headers, headerAttempts)
	if len(c.Headers) == 0 {
		c.Headers = nil
	}
	return c
}
