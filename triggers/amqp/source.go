package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/triggers"
)

// ConsumeQueue declares opts.Queue and its dead-letter queue and starts consuming it on a
// channel of its own with Qos(Prefetch) and manual acknowledgements. It returns once the
// consumer is registered with the broker, or the declaration's error (ErrInequivalent when
// the queue exists with another max priority).
//
// The source promises what triggers.Source does: at least once, shared work among the
// consumers of a queue, retries that do not block other messages (see the package
// comment), dead letters. Messages come in queue order, highest priority first on a
// priority queue; a redelivered message comes at its original position or later.
func (q *Queues) ConsumeQueue(ctx context.Context, opts triggers.QueueOptions) (triggers.Source, error) {
	if opts.Queue == "" {
		return nil, errors.New("amqp consume: no queue name")
	}
	if opts.Prefetch < 0 || opts.Prefetch > 65535 {
		return nil, fmt.Errorf("amqp consume %q: prefetch %d: must be in 0..65535", opts.Queue, opts.Prefetch)
	}
	if opts.MaxPriority < 0 || opts.MaxPriority > 255 {
		return nil, fmt.Errorf("amqp consume %q: maxPriority %d: must be in 0..255", opts.Queue, opts.MaxPriority)
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = 16
	}
	if opts.DeadLetter == "" {
		opts.DeadLetter = opts.Queue + ".dlq"
	}
	s := &source{
		q: q, opts: opts,
		main: mainSpec(opts.Queue, opts.MaxPriority), dlq: plainSpec(opts.DeadLetter),
		log:     q.log.With("queue", opts.Queue),
		changed: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(q.ctx)
	s.done = s.ctx.Done()
	conn, err := q.subLink.wait(ctx)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("amqp consume %q: %w", opts.Queue, err)
	}
	sub, err := call(q, ctx, func() (*subscription, error) { return s.subscribe(conn) },
		func(sub *subscription) { sub.ch.Close() })
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("amqp consume %q: %w", opts.Queue, err)
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		sub.ch.Close()
		s.cancel()
		return nil, ErrClosed
	}
	s.sub = sub
	q.sources[s] = struct{}{}
	q.wg.Add(1)
	s.wg.Add(1)
	q.mu.Unlock()
	go s.run(sub)
	return s, nil
}

// source is one consumer of one queue. Receive reads the deliveries straight from the
// consumer's amqp091 channel; the run goroutine only replaces the subscription when it
// fails.
type source struct {
	q         *Queues
	opts      triggers.QueueOptions
	main, dlq *queueSpec
	log       *slog.Logger

	// ctx ends at Close; done is its Done channel.
	ctx    context.Context
	cancel context.CancelFunc
	done   <-chan struct{}
	wg     sync.WaitGroup // the run goroutine

	mu      sync.Mutex
	sub     *subscription // nil while subscribing again
	changed chan struct{} // closed, and replaced, whenever sub changes
}

// subscription is a channel with this source's consumer on it. The broker sends at most
// Prefetch unsettled deliveries, so dels holds no more.
type subscription struct {
	ch        *amqp091.Channel
	acks      *ledger
	dels      <-chan amqp091.Delivery
	closed    chan *amqp091.Error
	cancelled chan string
}

// subscribe declares the queues and starts the consumer on a new channel of conn.
func (s *source) subscribe(conn *amqp091.Connection) (*subscription, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			ch.Close()
		}
	}()
	for _, spec := range []*queueSpec{s.main, s.dlq} {
		if err := declareOn(ch, spec); err != nil {
			return nil, err
		}
		s.q.decls.put(spec)
	}
	if err := ch.Qos(s.opts.Prefetch, 0, false); err != nil {
		return nil, fmt.Errorf("qos: %w", err)
	}
	sub := &subscription{
		ch:        ch,
		acks:      &ledger{ch: ch, done: map[uint64]struct{}{}},
		closed:    ch.NotifyClose(make(chan *amqp091.Error, 1)),
		cancelled: ch.NotifyCancel(make(chan string, 1)),
	}
	tag := s.q.opts.Name + "-" + id.New()[:16] // unique on the channel; named for rabbitmqctl
	if sub.dels, err = ch.Consume(s.opts.Queue, tag, false, false, false, false, nil); err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	ok = true
	return sub, nil
}

func (s *source) current() (*subscription, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sub, s.changed
}

func (s *source) setSub(sub *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sub = sub
	close(s.changed)
	s.changed = make(chan struct{})
}

// run watches the subscription and, when its channel or the connection fails, subscribes
// again with backoff, until Close.
func (s *source) run(sub *subscription) {
	defer s.q.wg.Done()
	defer s.wg.Done()
	for {
		err := s.watch(sub)
		if err == nil {
			return // closed
		}
		s.setSub(nil)
		s.log.Warn("amqp consumer stopped; subscribing again", "err", err)
		if sub = s.resubscribe(); sub == nil {
			return
		}
		s.setSub(sub)
		s.log.Info("amqp consumer resumed")
	}
}

// watch waits until sub fails, and returns why, or until Close, and returns nil.
func (s *source) watch(sub *subscription) error {
	var aerr *amqp091.Error
	select {
	case <-s.done:
		// Closing the channel cancels the consumer and returns its unsettled deliveries
		// to the queue.
		sub.ch.Close()
		return nil
	case tag, ok := <-sub.cancelled:
		if ok {
			sub.ch.Close()
			return fmt.Errorf("the broker cancelled consumer %s (queue deleted?)", tag)
		}
		aerr = <-sub.closed // closed with the channel, which says why
	case aerr = <-sub.closed:
	}
	if aerr != nil {
		return aerr
	}
	return errors.New("channel closed")
}

// resubscribe subscribes again once the consuming connection is up, with backoff between
// failures (a queue that cannot be declared, for one). It returns nil when the source closes.
func (s *source) resubscribe() *subscription {
	ctx := s.ctx
	for n := 0; ; n++ {
		conn, err := s.q.subLink.wait(ctx)
		if err != nil {
			return nil // closed: wait returns only then
		}
		sub, err := call(s.q, ctx, func() (*subscription, error) { return s.subscribe(conn) },
			func(sub *subscription) { sub.ch.Close() })
		if err == nil {
			return sub
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Error("amqp consumer cannot subscribe", "attempt", n+1, "err", err)
		select {
		case <-time.After(s.q.opts.backoff(n)):
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *source) delivery(sub *subscription, d *amqp091.Delivery) *triggers.Delivery {
	m, attempt := fromDelivery(d)
	return &triggers.Delivery{
		Message: m,
		Attempt: attempt,
		Token:   &token{src: s, ch: sub.ch, acks: sub.acks, tag: d.DeliveryTag, raw: *d},
	}
}

// Receive returns the deliveries the broker has sent, up to limit, waiting for the first.
// While the broker is unreachable it keeps waiting.
func (s *source) Receive(ctx context.Context, limit int) ([]*triggers.Delivery, error) {
	limit = max(limit, 1)
	var out []*triggers.Delivery
	for len(out) == 0 {
		if s.ctx.Err() != nil {
			return nil, triggers.ErrClosed
		}
		sub, changed := s.current()
		var dels <-chan amqp091.Delivery // nil, never ready, while subscribing again
		if sub != nil {
			dels = sub.dels
		}
		select {
		case d, ok := <-dels:
			if !ok {
				// The subscription failed; wait for run to replace it.
				select {
				case <-changed:
				case <-s.done:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				continue
			}
			out = s.appendLive(out, sub, &d)
		case <-changed:
		case <-s.done:
			return nil, triggers.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		for more := true; more && len(out) > 0 && len(out) < limit; {
			select {
			case d, ok := <-dels:
				if more = ok; ok {
					out = s.appendLive(out, sub, &d)
				}
			default:
				more = false
			}
		}
	}
	return out, nil
}

// appendLive appends d unless its channel died meanwhile: it can no longer be settled,
// and the broker redelivers it.
func (s *source) appendLive(out []*triggers.Delivery, sub *subscription, d *amqp091.Delivery) []*triggers.Delivery {
	if sub.ch.IsClosed() {
		return out
	}
	return append(out, s.delivery(sub, d))
}

// Close stops consuming: the channel closes, so the broker requeues the unsettled
// deliveries. It is idempotent.
func (s *source) Close() error {
	// Deliveries settled but not yet acknowledged would come back when the channel closes.
	if sub, _ := s.current(); sub != nil {
		_ = sub.acks.flush()
	}
	s.cancel()
	s.wg.Wait()
	s.q.mu.Lock()
	delete(s.q.sources, s)
	s.q.mu.Unlock()
	return nil
}

// Lag is how many messages of the queue are ready for a consumer (queue.declare passive).
// Messages waiting out a retry delay sit in their delay queues and are not counted.
func (s *source) Lag(ctx context.Context) (int64, error) {
	var n int
	err := s.q.withChannel(ctx, s.q.pubLink, func(ch *amqp091.Channel) error {
		q, err := ch.QueueDeclarePassive(s.main.name, true, false, false, false, nil)
		n = q.Messages
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("amqp: lag of %s: %w", s.main.name, err)
	}
	return int64(n), nil
}
