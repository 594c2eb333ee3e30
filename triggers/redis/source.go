package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/triggers"
)

const (
	// maxBatch bounds the entries one Receive asks Redis for.
	maxBatch = 1000
	// maxReclaimEvery bounds the default pace of the dead-consumer scan.
	maxReclaimEvery = time.Second
	// scanBudget is about how many pending entries one round of that scan looks at.
	scanBudget = 1000
	// Backoff between attempts while Redis cannot be reached.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
	// closeTimeout bounds what Close does in Redis and how long it waits for a Receive.
	closeTimeout = 3 * time.Second
)

// source consumes one consumer group of one stream as one consumer.
//
// One Receive at a time talks to Redis (it holds turn); concurrent Receives wait for it.
// What the turn holder owns is marked below; the rest is guarded by mu.
type source struct {
	client                       *goredis.Client
	stream, group, consumer, dlq string
	maxLen                       int64
	block, claimAfter, reclaim   time.Duration

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	turn      chan struct{} // a token in it: a Receive is talking to Redis

	// Owned by the holder of turn.
	reader      *blockingReader
	nextReclaim time.Time
	cursor      string // where the XAUTOCLAIM scan resumes

	mu     sync.Mutex
	due    dueList            // retries waiting for their delay
	wake   context.CancelFunc // ends the blocking read in progress; nil when there is none
	wakeAt time.Time          // when that read would end by itself
}

func newSource(s *Streams, opts triggers.StreamOptions) *source {
	reclaim := s.opts.ReclaimEvery
	if reclaim == 0 {
		reclaim = min(opts.ClaimAfter/2, maxReclaimEvery)
	}
	return &source{
		client: s.client, stream: opts.Stream, group: opts.Group, consumer: opts.Consumer,
		dlq: opts.DeadLetter, maxLen: s.opts.MaxLen,
		block: s.opts.Block, claimAfter: opts.ClaimAfter, reclaim: max(reclaim, time.Millisecond),
		done: make(chan struct{}), turn: make(chan struct{}, 1),
		reader: &blockingReader{client: s.client}, cursor: "0-0",
	}
}

// token is a delivery's handle: which entry of which source, its original fields (for the
// dead-letter stream) and when it was received.
type token struct {
	src      *source
	entryID  string
	fields   map[string]any
	received time.Time
}

func (s *source) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Receive returns the next deliveries: retries that are due first, then entries reclaimed
// from dead consumers, then new entries, up to n (at most 1000), in stream order within each.
// While Redis cannot be reached it keeps trying, with backoff, until ctx ends; it returns an
// error only for a failure that waiting does not cure (e.g. the key holds another type).
func (s *source) Receive(ctx context.Context, n int) ([]*triggers.Delivery, error) {
	n = min(max(n, 1), maxBatch)
	if s.closed() {
		return nil, triggers.ErrClosed
	}
	select {
	case s.turn <- struct{}{}:
	case <-s.done:
		return nil, triggers.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer s.releaseTurn()

	var lastErr error
	for failures := 0; ; {
		if s.closed() {
			return nil, triggers.ErrClosed
		}
		if ctx.Err() != nil {
			if lastErr != nil {
				return nil, fmt.Errorf("redis stream %q: %w (while retrying: %w)", s.stream, ctx.Err(), lastErr)
			}
			return nil, ctx.Err()
		}
		ds, err := s.poll(ctx, n)
		if len(ds) > 0 {
			return ds, nil
		}
		if err == nil {
			failures, lastErr = 0, nil
			continue
		}
		if s.closed() || ctx.Err() != nil {
			continue
		}
		if goredis.HasErrorPrefix(err, "NOGROUP") {
			// The stream or the group vanished (deleted, or Redis lost its data): start again
			// from the beginning of what the stream holds now, so nothing new is skipped.
			err = s.createGroup(ctx, "0")
		}
		if err != nil && !transient(err) {
			return nil, err
		}
		lastErr = err
		failures++
		s.sleep(ctx, backoff(failures))
	}
}

func (s *source) releaseTurn() {
	if s.closed() {
		s.reader.close()
	}
	<-s.turn
}

// poll makes one round: due retries, then (when its time has come) the dead-consumer scan,
// then a blocking read of new entries. It returns nothing and no error when it only waited.
func (s *source) poll(ctx context.Context, n int) ([]*triggers.Delivery, error) {
	now := time.Now()
	if ds, err := s.claimDue(ctx, n, now); err != nil || len(ds) > 0 {
		return ds, err
	}
	if !now.Before(s.nextReclaim) {
		if err := s.touchDue(ctx); err != nil {
			return nil, err
		}
		if ds, err := s.reclaimDead(ctx, n); err != nil || len(ds) > 0 {
			return ds, err
		}
	}
	return s.readNew(ctx, n)
}

// readNew reads new entries, blocking until one arrives or the next retry or scan is due,
// whichever comes first, but no longer than Block or ctx's deadline.
func (s *source) readNew(ctx context.Context, n int) ([]*triggers.Delivery, error) {
	now := time.Now()
	wait := min(s.block, s.nextReclaim.Sub(now))
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, dl.Sub(now))
	}
	s.mu.Lock()
	if at, ok := s.due.next(); ok {
		wait = min(wait, at.Sub(now))
	}
	if wait <= 0 {
		s.mu.Unlock()
		return nil, nil
	}
	wait = max(wait.Round(time.Millisecond), time.Millisecond) // BLOCK 0 would mean forever
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.wake, s.wakeAt = cancel, now.Add(wait)
	closed := s.closed() // Close closes done before it looks at wake
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.wake = nil
		s.mu.Unlock()
	}()
	if closed {
		return nil, nil
	}
	streams, err := s.reader.read(rctx, &goredis.XReadGroupArgs{
		Group: s.group, Consumer: s.consumer, Streams: []string{s.stream, ">"},
		Count: int64(n), Block: wait,
	})
	if err != nil {
		return nil, fmt.Errorf("redis stream %q: xreadgroup: %w", s.stream, err)
	}
	var ds []*triggers.Delivery
	for _, st := range streams {
		for _, m := range st.Messages {
			ds = append(ds, s.delivery(m, 1))
		}
	}
	return ds, nil
}

// reclaimDead takes over entries that have been pending with any consumer, this one
// included, for longer than ClaimAfter: their consumer died or hangs. Each round scans the
// pending entries list from where the last one stopped until it claims something or has
// looked at about scanBudget entries (XAUTOCLAIM looks at up to 10 per entry it may claim);
// a scan that went through the whole list starts over after ReclaimEvery.
func (s *source) reclaimDead(ctx context.Context, n int) ([]*triggers.Delivery, error) {
	var msgs []goredis.XMessage
	for step := 0; len(msgs) == 0 && step < max(1, scanBudget/(10*n)); step++ {
		claimed, next, err := s.client.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
			Stream: s.stream, Group: s.group, Consumer: s.consumer,
			MinIdle: s.claimAfter, Start: s.cursor, Count: int64(n),
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("redis stream %q: xautoclaim: %w", s.stream, err)
		}
		msgs = present(claimed)
		if next == "" || next == "0-0" {
			s.cursor, s.nextReclaim = "0-0", time.Now().Add(s.reclaim)
			break
		}
		s.cursor = next
	}
	if len(msgs) == 0 && s.cursor != "0-0" {
		s.nextReclaim = time.Now().Add(s.reclaim) // go on from the cursor at the next round
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	counts := s.deliveryCounts(ctx, msgs)
	ds := make([]*triggers.Delivery, len(msgs))
	s.mu.Lock()
	for i, m := range msgs {
		s.due.remove(m.ID) // reclaimed before its retry was due (its touches failed): deliver now
		ds[i] = s.delivery(m, counts[m.ID])
	}
	s.mu.Unlock()
	return ds, nil
}

// deliveryCounts returns how often Redis has delivered each claimed entry (XPENDING), which
// is the delivery's Attempt. If Redis cannot tell, 2 stands in: a claimed entry was delivered
// before.
func (s *source) deliveryCounts(ctx context.Context, msgs []goredis.XMessage) map[string]int {
	counts := make(map[string]int, len(msgs))
	cmds := make([]*goredis.XPendingExtCmd, len(msgs))
	s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, m := range msgs {
			cmds[i] = p.XPendingExt(ctx, &goredis.XPendingExtArgs{
				Stream: s.stream, Group: s.group, Start: m.ID, End: m.ID, Count: 1, Consumer: s.consumer,
			})
		}
		return nil
	})
	for i, m := range msgs {
		counts[m.ID] = 2
		if p, err := cmds[i].Result(); err == nil && len(p) == 1 && p[0].RetryCount > 0 {
			counts[m.ID] = int(p[0].RetryCount)
		}
	}
	return counts
}

// delivery wraps an entry received at attempt.
func (s *source) delivery(m goredis.XMessage, attempt int) *triggers.Delivery {
	return &triggers.Delivery{
		Message: decode(m.ID, m.Values),
		Attempt: attempt,
		Token:   &token{src: s, entryID: m.ID, fields: m.Values, received: time.Now()},
	}
}

// present drops the entries that were deleted while pending (Redis before 7 returns them
// without fields).
func present(msgs []goredis.XMessage) []goredis.XMessage {
	out := msgs[:0]
	for _, m := range msgs {
		if m.ID != "" && len(m.Values) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// createGroup creates the group at start ("$" or "0"), and the stream with it.
func (s *source) createGroup(ctx context.Context, start string) error {
	err := s.client.XGroupCreateMkStream(ctx, s.stream, s.group, start).Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("redis stream %q: create group %q: %w", s.stream, s.group, err)
	}
	return nil
}

// Close stops the source: Receive returns ErrClosed. Retries not yet due are left for other
// consumers to reclaim when they fall due; deliveries not settled are reclaimed ClaimAfter
// after they were received. A consumer that holds nothing is removed from the group.
// Close does not close the client.
func (s *source) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		if s.wake != nil {
			s.wake()
		}
		s.mu.Unlock()
		timer := time.NewTimer(closeTimeout)
		defer timer.Stop()
		select {
		case s.turn <- struct{}{}:
			s.reader.close()
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			s.handOver(ctx)
			<-s.turn
		case <-timer.C:
			// A Receive is stuck in a command; it closes the reader when it returns, and the
			// pending entries wait for other consumers.
		}
	})
	return nil
}

// handOver leaves the due retries to other consumers, who reclaim each when it falls due,
// and removes this consumer from the group when it holds nothing. Failures only delay
// redelivery until ClaimAfter, so they are not reported.
func (s *source) handOver(ctx context.Context) {
	s.mu.Lock()
	due := s.due.drain()
	s.mu.Unlock()
	if len(due) > 0 {
		now := time.Now()
		s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, e := range due {
				idle := max(s.claimAfter-e.at.Sub(now), 0)
				p.Do(ctx, "XCLAIM", s.stream, s.group, s.consumer, 0, e.entryID,
					"IDLE", idle.Milliseconds(), "JUSTID")
			}
			return nil
		})
		return
	}
	pending, err := s.client.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: s.stream, Group: s.group, Start: "-", End: "+", Count: 1, Consumer: s.consumer,
	}).Result()
	if err == nil && len(pending) == 0 {
		s.client.XGroupDelConsumer(ctx, s.stream, s.group, s.consumer)
	}
}

// sleep waits d, or less when ctx ends or the source closes.
func (s *source) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
}

// backoff returns the wait after the given number of consecutive failures, with jitter.
func backoff(failures int) time.Duration {
	d := maxBackoff
	if failures < 10 {
		d = min(minBackoff<<(failures-1), maxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// transient reports whether err is an outage that waiting cures: the connection failed or
// Redis is loading, failing over or full of clients. Other replies from Redis (wrong type,
// no permission, unknown command) and a closed client are real failures.
func transient(err error) bool {
	if errors.Is(err, goredis.ErrClosed) {
		return false
	}
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		return true // network errors, timeouts, broken connections
	}
	return goredis.IsLoadingError(err) || goredis.IsReadOnlyError(err) ||
		goredis.IsMasterDownError(err) || goredis.IsClusterDownError(err) ||
		goredis.IsTryAgainError(err) || goredis.IsMaxClientsError(err)
}

// Lag is the group's lag as Redis counts it (XINFO GROUPS): the entries not yet delivered to
// it. Redis cannot tell after entries were deleted from the middle of the stream; then Lag
// counts the entries after the group's last delivered one.
func (s *source) Lag(ctx context.Context) (int64, error) {
	groups, err := s.client.XInfoGroups(ctx, s.stream).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: lag of %s/%s: %w", s.stream, s.group, err)
	}
	for _, g := range groups {
		if g.Name != s.group {
			continue
		}
		if g.Lag >= 0 {
			return g.Lag, nil
		}
		n, err := s.client.XLen(ctx, s.stream).Result()
		if err != nil {
			return 0, fmt.Errorf("redis: lag of %s/%s: %w", s.stream, s.group, err)
		}
		return max(0, n-g.EntriesRead), nil
	}
	return 0, fmt.Errorf("redis: lag of %s/%s: no such group", s.stream, s.group)
}
