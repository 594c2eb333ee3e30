package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

var _ triggers.Source = (*streamSource)(nil)

// streamSource is one consumer in a consumer group of a stream. What it receives stays
// pending in the group until settled, also after Close: then another consumer claims it.
//
// Locks: DeadLetter holds two streams' locks, taken in name order (lockPair); every other
// method holds one. No method holds the broker's lock and a stream's together.
type streamSource struct {
	b          *Broker
	s          *stream
	g          *group
	name       string
	dls        string
	claimAfter time.Duration
	closedCh   chan struct{} // closed by Close, after closed is set

	closed bool // guarded by s.mu
}

// streamToken is Delivery.Token of a stream delivery: the entry and which delivery of it.
type streamToken struct {
	g     *group
	id    string // the entry ID
	n     uint64
	count int
}

// Receive returns up to n deliveries, blocking until there is at least one: first pending
// entries that are due (retried ones whose delay has passed, then ones any consumer has
// held for claimAfter or longer, which this consumer claims), then new entries in stream
// order. An n below 1 counts as 1.
func (c *streamSource) Receive(ctx context.Context, n int) ([]*triggers.Delivery, error) {
	n = max(n, 1)
	for {
		if err := c.b.checkReceive(ctx, c.closedCh); err != nil {
			return nil, err
		}
		s := c.s
		s.mu.Lock()
		if c.closed {
			s.mu.Unlock()
			return nil, triggers.ErrClosed
		}
		if ds := c.take(n, time.Now()); len(ds) > 0 {
			s.mu.Unlock()
			return ds, nil
		}
		due := c.g.nextDue(c.claimAfter)
		changed := s.changed.wait()
		s.mu.Unlock()
		if err := c.b.block(ctx, c.closedCh, changed, due); err != nil {
			return nil, err
		}
	}
}

// take delivers up to n entries; s.mu is held.
func (c *streamSource) take(n int, now time.Time) []*triggers.Delivery {
	g, s := c.g, c.s
	claimed := g.due(c, now, n)
	slices.SortFunc(claimed, func(a, b *pending) int { return cmp.Compare(a.e.n, b.e.n) })
	g.next = max(g.next, s.base) // skip what was trimmed before the group read it
	for len(claimed) < n && g.next < s.end() {
		claimed = append(claimed, g.deliver(s.entries.at(int(g.next-s.base)), c, now))
		g.next++
	}
	if len(claimed) == 0 {
		return nil
	}
	ds := make([]*triggers.Delivery, len(claimed))
	for i, p := range claimed {
		ds[i] = &triggers.Delivery{
			Message: copyMessage(&p.e.msg),
			Attempt: p.count,
			Token:   &streamToken{g: g, id: p.e.id, n: p.e.n, count: p.count},
		}
	}
	return ds
}

// Ack removes ds from the group's pending list. As Redis' XACK, it acknowledges an entry
// whoever holds it now, and an entry no longer pending is no error.
func (c *streamSource) Ack(ctx context.Context, ds ...*triggers.Delivery) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		t, err := c.token(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p := c.g.pending[t.n]; p != nil {
			c.g.remove(p)
		}
	}
	return errors.Join(errs...)
}

// Retry leaves d pending and makes it due again after delay, for any consumer of the group.
func (c *streamSource) Retry(ctx context.Context, d *triggers.Delivery, delay time.Duration) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	p, err := c.held(d)
	if err != nil {
		return err
	}
	c.g.retry(p, time.Now().Add(max(delay, 0)))
	c.s.changed.broadcast() // blocked consumers look again, with an earlier wake-up
	return nil
}

// DeadLetter appends d's entry to the dead-letter stream with the reason and the delivery
// count in its headers, and acknowledges it.
func (c *streamSource) DeadLetter(ctx context.Context, d *triggers.Delivery, reason string) error {
	ds, err := c.b.stream(c.dls, true)
	if err != nil {
		return fmt.Errorf("memory: dead-letter to stream %q: %w", c.dls, err)
	}
	s := c.s
	unlock := lockPair(s.name, &s.mu, ds.name, &ds.mu)
	defer unlock()
	if err := c.usable(); err != nil {
		return err
	}
	p, err := c.held(d)
	if err != nil {
		return err
	}
	ds.append(deadLettered(&p.e.msg, reason, p.count), time.Now())
	ds.changed.broadcast()
	c.g.remove(p)
	return nil
}

// Close stops consuming. What this consumer holds stays pending, to be claimed by another
// consumer of the group after its ClaimAfter, as with Redis. It is idempotent.
func (c *streamSource) Close() error {
	c.s.mu.Lock()
	if c.closed {
		c.s.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.g.consumers[c.name] == c {
		delete(c.g.consumers, c.name)
	}
	c.s.mu.Unlock()
	close(c.closedCh)
	return nil
}

// usable refuses settlements on a closed consumer; s.mu is held.
func (c *streamSource) usable() error {
	if c.closed || c.b.isClosed() {
		return fmt.Errorf("memory: stream %q group %q: %w", c.s.name, c.g.name, triggers.ErrClosed)
	}
	return nil
}

func (c *streamSource) token(d *triggers.Delivery) (*streamToken, error) {
	t, ok := d.Token.(*streamToken)
	if !ok || t.g != c.g {
		return nil, fmt.Errorf("memory: stream %q: delivery %q is not one of its deliveries", c.s.name, d.ID)
	}
	return t, nil
}

// held returns the pending entry of d if d is its current delivery, to this consumer, and
// not settled yet; s.mu is held.
func (c *streamSource) held(d *triggers.Delivery) (*pending, error) {
	t, err := c.token(d)
	if err != nil {
		return nil, err
	}
	p := c.g.pending[t.n]
	if p == nil || p.owner != c || p.count != t.count || !p.retryAt.IsZero() {
		return nil, fmt.Errorf("memory: stream %q group %q: entry %s (delivery %d): %w", c.s.name, c.g.name, t.id, t.count, ErrNotHeld)
	}
	return p, nil
}

// Lag is how many entries of the stream the group has not been delivered yet.
func (s *streamSource) Lag(context.Context) (int64, error) {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	return int64(s.s.end() - max(s.g.next, s.s.base)), nil
}
