package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/internal/broker"
	"github.com/edgefn/edgefn/triggers"
)

var (
	_ triggers.Queues      = (*Queues)(nil)
	_ triggers.DeadLetters = (*Queues)(nil)
	_ triggers.Pinger      = (*Queues)(nil)
	_ triggers.Source      = (*source)(nil)
)

// closeTimeout bounds each step of Close that waits for the broker.
const closeTimeout = 5 * time.Second

// ErrClosed is returned by the methods of Queues after Close.
var ErrClosed = errors.New("amqp: closed")

// Queues is the RabbitMQ queue backend. Its methods are safe for concurrent use.
type Queues struct {
	url  string
	opts Options
	log  *slog.Logger

	// ctx ends at Close; it bounds every goroutine below.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	pubLink *link // publishing, declarations
	subLink *link // consumers, dead-letter inspection
	decls   *declarations
	pub     *publisher
	replies *replier
	ladder  ladder // the delay ladder is declared (delay.go)

	mu      sync.Mutex
	closed  bool
	sources map[*source]struct{}
}

// Dial connects to the broker at url (amqp:// or amqps://) and returns the backend. It
// fails when the broker cannot be reached now; after that, outages are waited out.
func Dial(url string, opts Options) (*Queues, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("amqp options: %w", err)
	}
	uri, err := amqp091.ParseURI(url)
	if err != nil {
		return nil, fmt.Errorf("amqp url %s: %w", broker.Redact(url), broker.RedactError(err, url))
	}
	if opts.TLS != nil && uri.Scheme != "amqps" {
		return nil, fmt.Errorf("amqp url %s: TLS settings need an amqps:// URL", broker.Redact(url))
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queues{
		url: url, opts: opts, log: opts.Logger.With("broker", broker.Redact(url)),
		ctx: ctx, cancel: cancel, sources: map[*source]struct{}{},
	}
	q.decls = newDeclarations()
	q.pub = newPublisher(q)
	q.replies = &replier{q: q}
	q.pubLink = newLink(q, "publish")
	q.subLink = newLink(q, "consume")
	q.pubLink.onUp = q.redeclare

	var conns []*amqp091.Connection
	for _, l := range []*link{q.pubLink, q.subLink} {
		conn, err := l.dial()
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			cancel()
			return nil, fmt.Errorf("amqp dial %s: %w", broker.Redact(url), err)
		}
		conns = append(conns, conn)
		l.set(conn, nil)
	}
	q.wg.Add(2)
	go q.pubLink.run(conns[0])
	go q.subLink.run(conns[1])
	if !opts.noForwarder {
		q.spawn(q.forward)
	}
	return q, nil
}

// Close closes every source opened by q (their unsettled deliveries return to their
// queues), then the connections. It is idempotent. A broker that stopped answering holds
// it up for a few seconds at most.
func (q *Queues) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	srcs := make([]*source, 0, len(q.sources))
	for s := range q.sources {
		srcs = append(srcs, s)
	}
	q.sources = map[*source]struct{}{}
	q.mu.Unlock()
	// Channels first, then connections: the orderly way, when the broker answers.
	stopped := make(chan struct{})
	go func() {
		for _, s := range srcs {
			s.cancel()
		}
		for _, s := range srcs {
			s.wg.Wait()
		}
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(closeTimeout):
	}
	q.cancel()
	q.wg.Wait()
	<-stopped
	return nil
}

// Ping returns nil while both connections are up and the broker does not block publishing
// (a resource alarm). It makes no round trip: heartbeats find a broker that stopped
// answering, within three Heartbeat intervals.
func (q *Queues) Ping(ctx context.Context) error {
	if q.ctx.Err() != nil {
		return ErrClosed
	}
	for _, l := range []*link{q.pubLink, q.subLink} {
		if err := l.ping(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// spawn runs f in a goroutine that Close waits for, unless q is closed.
func (q *Queues) spawn(f func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		f()
	}()
	return true
}

// call runs fn, which makes broker calls that amqp091 does not bound by a context, and
// waits for it or ctx. When ctx ends first, fn is left to finish (a dead connection ends
// it at the latest) and undo, if set, releases what it returned.
func call[T any](q *Queues, ctx context.Context, fn func() (T, error), undo func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	var (
		mu        sync.Mutex
		done      bool
		abandoned bool
	)
	res := make(chan result, 1)
	ok := q.spawn(func() {
		v, err := fn()
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if err == nil && undo != nil {
				undo(v)
			}
			return
		}
		done = true
		res <- result{v, err}
	})
	if !ok {
		return zero, ErrClosed
	}
	select {
	case r := <-res:
		return r.v, r.err
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		if done { // fn finished meanwhile: its result stands
			r := <-res
			return r.v, r.err
		}
		abandoned = true
		return zero, ctx.Err()
	}
}

// withChannel runs fn on a fresh channel of l's connection and closes the channel after,
// which also returns to their queues the messages fn got and did not acknowledge.
func (q *Queues) withChannel(ctx context.Context, l *link, fn func(*amqp091.Channel) error) error {
	conn, err := l.wait(ctx)
	if err != nil {
		return err
	}
	_, err = call(q, ctx, func() (struct{}, error) {
		ch, err := conn.Channel()
		if err != nil {
			return struct{}{}, fmt.Errorf("open channel: %w", err)
		}
		defer ch.Close()
		return struct{}{}, fn(ch)
	}, nil)
	return err
}

// isCode reports whether err is an AMQP error with code (amqp091.NotFound, ...).
func isCode(err error, code int) bool {
	var ae *amqp091.Error
	return errors.As(err, &ae) && ae.Code == code
}
