package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/triggers"
)

const (
	// maxDue bounds the retries a source holds back at once.
	maxDue = 10_000
	// ackBatch bounds the IDs of one XACK.
	ackBatch = 1000
)

// errForeign is returned for a delivery that another source handed out.
var errForeign = errors.New("delivery does not belong to this source")

func (s *source) tokenOf(d *triggers.Delivery) (*token, error) {
	if d == nil {
		return nil, fmt.Errorf("redis stream %q: nil delivery", s.stream)
	}
	tok, ok := d.Token.(*token)
	if !ok || tok.src != s {
		return nil, fmt.Errorf("redis stream %q: %q: %w", s.stream, d.ID, errForeign)
	}
	return tok, nil
}

// Ack settles deliveries as done (XACK). It works after Close too.
func (s *source) Ack(ctx context.Context, ds ...*triggers.Delivery) error {
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		tok, err := s.tokenOf(d)
		if err != nil {
			return err
		}
		ids = append(ids, tok.entryID)
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), ackBatch)]
		ids = ids[len(batch):]
		if err := s.client.XAck(ctx, s.stream, s.group, batch...).Err(); err != nil {
			return fmt.Errorf("redis stream %q: xack: %w", s.stream, err)
		}
	}
	return nil
}

// DeadLetter appends the entry's original fields, with the reason and the attempts, to the
// dead-letter stream and acknowledges it, in one transaction (MULTI/EXEC, watching the
// dead-letter stream, which must hold a stream or nothing).
func (s *source) DeadLetter(ctx context.Context, d *triggers.Delivery, reason string) error {
	tok, err := s.tokenOf(d)
	if err != nil {
		return err
	}
	xadd := &goredis.XAddArgs{Stream: s.dlq, Values: deadFields(tok.fields, d.ID, reason, d.Attempt)}
	if s.maxLen > 0 {
		xadd.MaxLen, xadd.Approx = s.maxLen, true
	}
	err = watchStreams(ctx, s.client, func(tx *goredis.Tx) error {
		cmds, err := tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.XAdd(ctx, xadd)
			p.XAck(ctx, s.stream, s.group, tok.entryID)
			return nil
		})
		return firstErr(cmds, err)
	}, []string{s.dlq}, s.dlq)
	if err != nil {
		return fmt.Errorf("redis stream %q: dead-letter to %q: %w", s.stream, s.dlq, err)
	}
	return nil
}

// Retry keeps the entry pending and hands it back to this consumer after delay, with
// Attempt one higher. If the entry is no longer this consumer's (another consumer reclaimed
// it after ClaimAfter, or it was trimmed), it is settled elsewhere and Retry does nothing.
// After Close, the entry is left for other consumers to reclaim when it falls due.
func (s *source) Retry(ctx context.Context, d *triggers.Delivery, delay time.Duration) error {
	tok, err := s.tokenOf(d)
	if err != nil {
		return err
	}
	now := time.Now()
	at := now.Add(max(delay, 0))
	if s.closed() {
		idle := max(s.claimAfter-at.Sub(now), 0)
		minIdle := s.minIdleSince(tok.received).Milliseconds()
		if err := s.client.Do(ctx, "XCLAIM", s.stream, s.group, s.consumer, minIdle, tok.entryID,
			"IDLE", idle.Milliseconds(), "JUSTID").Err(); err != nil {
			return fmt.Errorf("redis stream %q: xclaim: %w", s.stream, err)
		}
		return nil
	}
	// Touch the entry (reset its idle time) so that no consumer reclaims it before the
	// delay, provided it is still ours: an entry another consumer reclaimed has been idle
	// for at least ClaimAfter less than ours.
	touched := tok.received
	ids, err := s.client.XClaimJustID(ctx, &goredis.XClaimArgs{
		Stream: s.stream, Group: s.group, Consumer: s.consumer,
		MinIdle: s.minIdleSince(tok.received), Messages: []string{tok.entryID},
	}).Result()
	switch {
	case err == nil && len(ids) == 0:
		return nil
	case err == nil:
		touched = time.Now()
	}
	// When the touch failed, the retry is held back all the same: the touch only keeps other
	// consumers off, and the XCLAIM when it falls due reports what is really wrong.

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.due.len() >= maxDue {
		return fmt.Errorf("redis stream %q: %d retries held back already; %s stays pending until reclaimed",
			s.stream, maxDue, d.ID)
	}
	s.due.add(dueEntry{entryID: tok.entryID, at: at, attempt: d.Attempt, touched: touched})
	if s.wake != nil && at.Before(s.wakeAt) {
		s.wake() // the blocking read would end after this retry is due
	}
	return nil
}

// minIdleSince returns the min-idle time for an XCLAIM of an entry this consumer got or
// touched at t: low enough for the entry while it is still ours, too high for it once another
// consumer has reclaimed it (at least ClaimAfter after t).
func (s *source) minIdleSince(t time.Time) time.Duration {
	return max(time.Since(t)-s.claimAfter/2, 0)
}

// claimDue hands the retries that are due back to this consumer (XCLAIM, which counts a
// delivery), up to n, oldest due first.
func (s *source) claimDue(ctx context.Context, n int, now time.Time) ([]*triggers.Delivery, error) {
	s.mu.Lock()
	batch := s.due.dueBy(now, n)
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil, nil
	}
	ids := make([]string, len(batch))
	minIdle := time.Duration(1<<63 - 1)
	for i, e := range batch {
		ids[i] = e.entryID
		minIdle = min(minIdle, s.minIdleSince(e.touched))
	}
	msgs, err := s.client.XClaim(ctx, &goredis.XClaimArgs{
		Stream: s.stream, Group: s.group, Consumer: s.consumer, MinIdle: minIdle, Messages: ids,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redis stream %q: xclaim: %w", s.stream, err)
	}
	byID := make(map[string]goredis.XMessage, len(msgs))
	for _, m := range present(msgs) {
		byID[m.ID] = m
	}
	ds := make([]*triggers.Delivery, 0, len(byID))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range batch {
		s.due.remove(e.entryID)
		if m, ok := byID[e.entryID]; ok { // the others were settled elsewhere or trimmed
			ds = append(ds, s.delivery(m, e.attempt+1))
		}
	}
	return ds, nil
}

// touchDue resets the idle time of the retries last touched more than ClaimAfter/4 ago, so
// that no consumer reclaims them before they are due, and forgets those that are no longer
// ours. It runs every ReclaimEvery (at most ClaimAfter/2 by default), so a retry's idle time
// stays below about 3/4 of ClaimAfter.
func (s *source) touchDue(ctx context.Context) error {
	now := time.Now()
	s.mu.Lock()
	stale := s.due.touchedBefore(now.Add(-s.claimAfter / 4))
	s.mu.Unlock()
	if len(stale) == 0 {
		return nil
	}
	ids := make([]string, len(stale))
	minIdle := time.Duration(1<<63 - 1)
	for i, e := range stale {
		ids[i] = e.entryID
		minIdle = min(minIdle, s.minIdleSince(e.touched))
	}
	kept, err := s.client.XClaimJustID(ctx, &goredis.XClaimArgs{
		Stream: s.stream, Group: s.group, Consumer: s.consumer, MinIdle: minIdle, Messages: ids,
	}).Result()
	if err != nil {
		return fmt.Errorf("redis stream %q: xclaim: %w", s.stream, err)
	}
	touched := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if slices.Contains(kept, id) {
			s.due.touch(id, touched)
		} else {
			s.due.remove(id)
		}
	}
	return nil
}

// dueEntry is a retry held back until at.
type dueEntry struct {
	entryID string
	at      time.Time
	attempt int       // the Attempt of the delivery that was retried
	touched time.Time // when its idle time was last reset
}

// dueList holds retries in the order they fall due. It stays small (maxDue), so a sorted
// slice does.
type dueList struct{ entries []dueEntry }

func (l *dueList) len() int { return len(l.entries) }

func (l *dueList) add(e dueEntry) {
	i, _ := slices.BinarySearchFunc(l.entries, e.at, func(x dueEntry, at time.Time) int {
		if x.at.After(at) {
			return 1
		}
		return -1 // after every entry due at the same time: first retried, first redelivered
	})
	l.entries = slices.Insert(l.entries, i, e)
}

// next returns when the first retry falls due.
func (l *dueList) next() (time.Time, bool) {
	if len(l.entries) == 0 {
		return time.Time{}, false
	}
	return l.entries[0].at, true
}

// dueBy returns up to n retries due by now, without removing them.
func (l *dueList) dueBy(now time.Time, n int) []dueEntry {
	var out []dueEntry
	for _, e := range l.entries {
		if e.at.After(now) || len(out) == n {
			break
		}
		out = append(out, e)
	}
	return out
}

// touchedBefore returns the retries last touched before t.
func (l *dueList) touchedBefore(t time.Time) []dueEntry {
	var out []dueEntry
	for _, e := range l.entries {
		if e.touched.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

func (l *dueList) touch(id string, t time.Time) {
	for i := range l.entries {
		if l.entries[i].entryID == id {
			l.entries[i].touched = t
		}
	}
}

func (l *dueList) remove(id string) {
	l.entries = slices.DeleteFunc(l.entries, func(e dueEntry) bool { return e.entryID == id })
}

// drain removes and returns every retry.
func (l *dueList) drain() []dueEntry {
	out := l.entries
	l.entries = nil
	return out
}
