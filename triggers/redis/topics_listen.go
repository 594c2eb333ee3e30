package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/triggers"
)

// pingEvery is how long the fan-out connection may stay silent before the listener pings
// Redis. A ping unanswered for as long again means the connection is dead without saying so
// (half-open TCP), and the listener replaces it.
const pingEvery = 5 * time.Second

// listener owns one PubSub connection subscribed to the fan-out channel and hands what it
// hears to a TopicListener, from its one goroutine.
type listener struct {
	t      *Topics
	l      triggers.TopicListener
	ctx    context.Context // ends with stop; interrupts redials
	cancel context.CancelFunc
	ready  chan struct{} // closed at the first confirmed subscription
	exited chan struct{} // closed when the goroutine is done

	mu      sync.Mutex // guards ps and stopped
	ps      *goredis.PubSub
	stopped bool
}

// ListenTopics subscribes to the fan-out channel on a connection of its own and returns
// once Redis confirmed the subscription. One goroutine then hands l every publication of
// every node, in offset order per topic, until ctx ends or Close. When the connection
// breaks, go-redis redials and subscribes again, and l.Resync is called once the new
// subscription is confirmed: what was published in between was not heard.
func (t *Topics) ListenTopics(ctx context.Context, l triggers.TopicListener) error {
	ps := t.client.Subscribe(ctx) // no channel yet: no I/O
	if err := ps.Subscribe(ctx, t.channel); err != nil {
		ps.Close()
		return fmt.Errorf("redis topics: listen: subscribe %s: %w", t.channel, err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	ln := &listener{t: t, l: l, ctx: lctx, cancel: cancel, ps: ps,
		ready: make(chan struct{}), exited: make(chan struct{})}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		ln.stop()
		return fmt.Errorf("redis topics: listen: %w", ErrTopicsClosed)
	}
	t.listeners[ln] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	stopOnCancel := context.AfterFunc(ctx, ln.stop)
	go func() {
		defer t.wg.Done()
		defer close(ln.exited)
		defer t.forget(ln)
		defer stopOnCancel()
		ln.run()
	}()
	select {
	case <-ln.ready:
		return nil
	case <-ln.exited:
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("redis topics: listen: %w", err)
		}
		return fmt.Errorf("redis topics: listen: %w", ErrTopicsClosed)
	}
}

// forget removes a listener whose goroutine ended.
func (t *Topics) forget(ln *listener) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.listeners, ln)
}

// run receives until stop. go-redis reconnects and resubscribes by itself after an error,
// on the next receive; run only waits (minBackoff doubling up to maxBackoff) while that
// keeps failing.
func (ln *listener) run() {
	defer ln.stop()
	ps := ln.current()
	subscribed, pinged := false, false
	var backoff time.Duration
	for ps != nil {
		msg, err := ps.ReceiveTimeout(ln.ctx, ln.t.pingEvery)
		if ln.isStopped() {
			return
		}
		var ne net.Error
		switch {
		case err != nil && errors.As(err, &ne) && ne.Timeout():
			if pinged {
				ps, pinged = ln.renew(), false
			} else {
				pinged = true
				_ = ps.Ping(ln.ctx) // a failed write makes go-redis redial
			}
			continue
		case err != nil:
			if !ln.sleep(backoff) {
				return
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			continue
		}
		backoff, pinged = 0, false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			if !subscribed {
				subscribed = true
				close(ln.ready)
			} else {
				ln.l.Resync()
			}
		case *goredis.Message:
			if p, err := decodePublication(m.Payload); err == nil {
				ln.l.Publication(p)
			}
		}
	}
}

// renew replaces a connection that stopped answering; nil after stop. The new
// subscription's confirmation triggers a Resync like any resubscription.
func (ln *listener) renew() *goredis.PubSub {
	ps := ln.t.client.Subscribe(ln.ctx, ln.t.channel) // when this fails, Receive retries it
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.stopped {
		ps.Close()
		return nil
	}
	ln.ps.Close()
	ln.ps = ps
	return ps
}

func (ln *listener) current() *goredis.PubSub {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.stopped {
		return nil
	}
	return ln.ps
}

func (ln *listener) isStopped() bool {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.stopped
}

// sleep waits d, or less when stopped; it reports whether the listener goes on.
func (ln *listener) sleep(d time.Duration) bool {
	if d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ln.ctx.Done():
		}
	}
	return !ln.isStopped()
}

// stop ends the listener: closing its connection interrupts a blocked receive. It is
// idempotent.
func (ln *listener) stop() {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.stopped {
		return
	}
	ln.stopped = true
	ln.cancel()
	ln.ps.Close()
}
