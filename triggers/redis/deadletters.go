package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/triggers"
)

const (
	// defaultListLimit is what ListDead returns for a limit <= 0.
	defaultListLimit = 100
	// redriveBatch bounds the entries one redrive transaction moves.
	redriveBatch = 256
	// txAttempts bounds how often a transaction starts over because a key it watches
	// changed under it.
	txAttempts = 20
)

// ListDead returns up to limit (100 when limit <= 0) entries of the dead-letter stream
// name, oldest first (XRANGE), without removing them.
func (s *Streams) ListDead(ctx context.Context, name string, limit int) ([]triggers.DeadMessage, error) {
	if limit <= 0 {
		limit = defaultListLimit
	}
	entries, err := s.client.XRangeN(ctx, name, "-", "+", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis stream %q: xrange: %w", name, err)
	}
	out := make([]triggers.DeadMessage, 0, len(entries))
	for _, e := range entries {
		out = append(out, decodeDead(e.ID, e.Values))
	}
	return out, nil
}

// Redrive moves up to limit of the oldest entries of the dead-letter stream name to the
// stream target, without the error and attempts that dead-lettering added: there they are
// new entries, delivered to every group of target at attempt 1. Each batch moves in one
// transaction (WATCH name, then XADD and XDEL in MULTI/EXEC), so an entry is moved once even
// when two redrives run at once. It returns how many entries it moved, also on error.
func (s *Streams) Redrive(ctx context.Context, name, target string, limit int) (int, error) {
	if name == target {
		return 0, fmt.Errorf("redis stream %q: redrive to itself", name)
	}
	moved := 0
	for moved < limit {
		n, err := s.redriveBatch(ctx, name, target, min(limit-moved, redriveBatch))
		moved += n
		if err != nil {
			return moved, fmt.Errorf("redis stream %q: redrive to %q: %w", name, target, err)
		}
		if n == 0 {
			break
		}
	}
	return moved, nil
}

// redriveBatch moves up to n entries and returns how many it moved.
func (s *Streams) redriveBatch(ctx context.Context, name, target string, n int) (int, error) {
	var moved int
	err := watchStreams(ctx, s.client, func(tx *goredis.Tx) error {
		moved = 0
		entries, err := tx.XRangeN(ctx, name, "-", "+", int64(n)).Result()
		if err != nil || len(entries) == 0 {
			return err
		}
		ids := make([]string, len(entries))
		cmds, err := tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			for i, e := range entries {
				ids[i] = e.ID
				p.XAdd(ctx, s.xadd(target, redriveFields(e.Values)))
			}
			p.XDel(ctx, name, ids...)
			return nil
		})
		if err != nil {
			return firstErr(cmds, err)
		}
		moved = len(entries)
		return nil
	}, []string{name}, name, target)
	return moved, err
}

// Purge deletes the dead-letter stream name and returns how many entries it held (XLEN and
// DEL in one transaction, refused when name holds something other than a stream).
func (s *Streams) Purge(ctx context.Context, name string) (int, error) {
	var n int64
	err := watchStreams(ctx, s.client, func(tx *goredis.Tx) error {
		var xlen *goredis.IntCmd
		cmds, err := tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			xlen = p.XLen(ctx, name)
			p.Del(ctx, name)
			return nil
		})
		if err != nil {
			return firstErr(cmds, err)
		}
		n = xlen.Val()
		return nil
	}, []string{name}, name)
	if err != nil {
		return 0, fmt.Errorf("redis stream %q: purge: %w", name, err)
	}
	return int(n), nil
}

// watchStreams runs fn in a transaction that WATCHes the keys watch, after checking that
// each of streams holds a stream or nothing. It starts over, up to txAttempts times, when a
// watched key changed before EXEC. The check matters because MULTI/EXEC does not roll back:
// an XADD to a key of another type would fail while the XACK, XDEL or DEL next to it ran.
func watchStreams(ctx context.Context, client *goredis.Client, fn func(*goredis.Tx) error, watch []string, streams ...string) error {
	check := func(tx *goredis.Tx) error {
		for _, key := range streams {
			kind, err := tx.Type(ctx, key).Result()
			if err != nil {
				return err
			}
			if kind != "stream" && kind != "none" {
				return fmt.Errorf("key %q holds a %s, not a stream", key, kind)
			}
		}
		return fn(tx)
	}
	for range txAttempts {
		err := client.Watch(ctx, check, watch...)
		if !errors.Is(err, goredis.TxFailedErr) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%q kept changing (%d attempts)", watch, txAttempts)
}
