package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/internal/broker"
)

// link is one broker connection that redials itself: its goroutine waits for the
// connection to close and dials again with backoff until the Queues close.
type link struct {
	q    *Queues
	name string
	// onUp, when set, runs in the link's goroutine after every reconnect (not the first
	// connection), before waiters are woken.
	onUp func(*amqp091.Connection)

	mu      sync.Mutex
	conn    *amqp091.Connection // nil while down
	changed chan struct{}       // closed, and replaced, whenever conn changes
	gen     uint64              // connections made so far
	lastErr error               // why the link is down
	blocked string              // why the broker blocks publishing on conn, if it does
}

func newLink(q *Queues, name string) *link {
	return &link{q: q, name: name, changed: make(chan struct{})}
}

// dial makes one connection attempt.
func (l *link) dial() (*amqp091.Connection, error) {
	o := &l.q.opts
	props := amqp091.NewConnectionProperties()
	props.SetClientConnectionName(o.Name + " " + l.name)
	var tlsConfig *tls.Config
	if o.TLS != nil {
		tlsConfig = o.TLS.Clone() // amqp091 fills in ServerName: not on the shared one
	}
	conn, err := amqp091.DialConfig(l.q.url, amqp091.Config{
		Heartbeat:       o.Heartbeat,
		Properties:      props,
		TLSClientConfig: tlsConfig,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: o.DialTimeout}
			c, err := d.DialContext(l.q.ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the TLS and AMQP handshakes; amqp091 clears it once connected.
			if err := c.SetDeadline(time.Now().Add(o.DialTimeout)); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	})
	return conn, broker.RedactError(err, l.q.url)
}

func (l *link) set(conn *amqp091.Connection, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn, l.lastErr, l.blocked = conn, err, ""
	if conn != nil {
		l.gen++
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// run keeps the link connected until the Queues close; conn is the first connection.
func (l *link) run(conn *amqp091.Connection) {
	defer l.q.wg.Done()
	log := l.q.log.With("connection", l.name)
	for {
		if !l.watch(conn) {
			return
		}
		for n := 0; ; n++ {
			select {
			case <-l.q.ctx.Done():
				return
			case <-time.After(l.q.opts.backoff(n)):
			}
			c, err := l.dial()
			if err != nil {
				log.Warn("amqp reconnect failed", "attempt", n+1, "err", err)
				l.mu.Lock()
				l.lastErr = fmt.Errorf("amqp %s connection down: %w", l.name, err)
				l.mu.Unlock()
				continue
			}
			conn = c
			break
		}
		if l.onUp != nil {
			l.onUp(conn)
		}
		l.set(conn, nil)
		log.Info("amqp connection re-established")
	}
}

// watch follows conn until it closes (true) or the Queues close (false).
func (l *link) watch(conn *amqp091.Connection) bool {
	log := l.q.log.With("connection", l.name)
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp091.Blocking, 1))
	for {
		select {
		case <-l.q.ctx.Done():
			conn.CloseDeadline(time.Now().Add(closeTimeout))
			l.set(nil, ErrClosed)
			return false
		case b, ok := <-blocked:
			if !ok {
				blocked = nil // closed with the connection: closed says why
				continue
			}
			if b.Active {
				log.Warn("amqp broker blocks publishing (resource alarm)", "reason", b.Reason)
			} else {
				log.Info("amqp broker unblocked publishing")
			}
			l.mu.Lock()
			l.blocked = ""
			if b.Active {
				l.blocked = "the broker blocks publishing: " + b.Reason
			}
			l.mu.Unlock()
		case aerr := <-closed:
			err := error(errors.New("closed"))
			if aerr != nil {
				err = aerr
			}
			log.Warn("amqp connection lost; reconnecting", "err", err)
			l.set(nil, fmt.Errorf("amqp %s connection lost: %w", l.name, err))
			return true
		}
	}
}

// ping returns why the link cannot publish or consume now, if it cannot.
func (l *link) ping() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.conn == nil || l.conn.IsClosed():
		if l.lastErr != nil {
			return l.lastErr
		}
		return fmt.Errorf("amqp %s connection down", l.name)
	case l.blocked != "":
		return fmt.Errorf("amqp %s connection: %s", l.name, l.blocked)
	}
	return nil
}

// wait returns a usable connection, waiting for a reconnect while there is none.
func (l *link) wait(ctx context.Context) (*amqp091.Connection, error) {
	for {
		l.mu.Lock()
		conn, changed := l.conn, l.changed
		l.mu.Unlock()
		if conn != nil && !conn.IsClosed() {
			return conn, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("amqp %s connection down: %w", l.name, ctx.Err())
		case <-l.q.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// generation counts the connections the link made; tests wait for it to grow.
func (l *link) generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}
