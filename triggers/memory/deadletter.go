package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

// A dead-letter queue or stream is an ordinary queue or stream: DeadLetter created it and
// gave its messages the headers "error" and "attempts". These methods find it by name among
// the queues, then the streams. Only ready messages of a queue count: not those a consumer
// of the dead-letter queue holds or has retried.

// ListDead returns up to limit dead-lettered messages of the queue or stream name, oldest
// first, without removing them; all of them when limit is 0 or less. A name that is neither
// a queue nor a stream has none.
func (b *Broker) ListDead(ctx context.Context, name string, limit int) ([]triggers.DeadMessage, error) {
	q, s, err := b.deadLetters(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("memory: list dead letters of %q: %w", name, err)
	}
	var out []triggers.DeadMessage
	switch {
	case q != nil:
		q.mu.Lock()
		defer q.mu.Unlock()
		q.promoteDue(time.Now())
		for _, m := range q.readyBySeq()[:capped(q.ready, limit)] {
			out = append(out, deadMessage(&m.msg))
		}
	case s != nil:
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := range capped(s.entries.len(), limit) {
			out = append(out, deadMessage(&s.entries.at(i).msg))
		}
	}
	return out, nil
}

// Redrive moves up to limit (all when 0 or less) dead-lettered messages of name, oldest
// first, to the queue or stream target, the same kind as name, without the headers that
// dead-lettering added; there they start again at attempt 1. When the target queue fills
// up, it stops and returns how many it moved with an error wrapping ErrFull.
func (b *Broker) Redrive(ctx context.Context, name, target string, limit int) (int, error) {
	n, err := b.redrive(ctx, name, target, limit)
	if err != nil {
		return n, fmt.Errorf("memory: redrive %q to %q: %w", name, target, err)
	}
	return n, nil
}

func (b *Broker) redrive(ctx context.Context, name, target string, limit int) (int, error) {
	if target == "" || target == name {
		return 0, errors.New("the target must be another queue or stream")
	}
	q, s, err := b.deadLetters(ctx, name)
	switch {
	case err != nil:
		return 0, err
	case q != nil:
		tq, err := b.queue(target, true)
		if err != nil {
			return 0, err
		}
		defer lockPair(q.name, &q.mu, tq.name, &tq.mu)()
		now := time.Now()
		q.promoteDue(now)
		tq.promoteDue(now)
		ms := q.readyBySeq()[:capped(q.ready, limit)]
		var full error
		if room := tq.max - tq.size; room < len(ms) {
			ms, full = ms[:max(room, 0)], tq.room(len(ms))
		}
		gone := make(map[*qmsg]bool, len(ms))
		for _, m := range ms {
			tq.add(revived(&m.msg))
			gone[m] = true
		}
		q.removeReady(gone)
		tq.changed.broadcast()
		return len(ms), full
	case s != nil:
		ts, err := b.stream(target, true)
		if err != nil {
			return 0, err
		}
		defer lockPair(s.name, &s.mu, ts.name, &ts.mu)()
		k, now := capped(s.entries.len(), limit), time.Now()
		for i := range k {
			ts.append(revived(&s.entries.at(i).msg), now)
		}
		s.trim(k)
		ts.changed.broadcast()
		return k, nil
	}
	return 0, nil
}

// Purge deletes the dead-lettered messages of name and returns how many it deleted.
func (b *Broker) Purge(ctx context.Context, name string) (int, error) {
	q, s, err := b.deadLetters(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("memory: purge %q: %w", name, err)
	}
	switch {
	case q != nil:
		q.mu.Lock()
		defer q.mu.Unlock()
		q.promoteDue(time.Now())
		n := q.ready
		for p := range q.levels {
			q.levels[p] = ring[*qmsg]{}
		}
		q.ready, q.size = 0, q.size-n
		return n, nil
	case s != nil:
		s.mu.Lock()
		defer s.mu.Unlock()
		n := s.entries.len()
		s.trim(n)
		return n, nil
	}
	return 0, nil
}

// deadLetters finds the queue or stream name; both nil when there is none. A name that is
// both a queue and a stream is refused: which one is meant is unclear.
func (b *Broker) deadLetters(ctx context.Context, name string) (*queue, *stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, ErrBrokerClosed
	}
	q, s := b.queues[name], b.streams[name]
	if q != nil && s != nil {
		return nil, nil, errors.New("both a queue and a stream have this name")
	}
	return q, s, nil
}

// capped returns limit, or n when limit is 0 or less or above n.
func capped(n, limit int) int {
	if limit <= 0 || limit > n {
		return n
	}
	return limit
}
