package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// unblockPause is how long unblock waits before asking again when the read it is to end has
// not reached Redis yet.
const unblockPause = 5 * time.Millisecond

// blockingReader runs a source's blocking XREADGROUPs on a connection of its own, whose
// Redis client ID it knows, so that the end of the read's context can end the read at once
// with CLIENT UNBLOCK: go-redis does not interrupt a read in progress when its context is
// canceled. It is used by one goroutine at a time (the holder of the source's turn).
type blockingReader struct {
	client *goredis.Client
	conn   *goredis.Conn
	id     int64 // the connection's CLIENT ID
}

// read runs XREADGROUP. When ctx ends first, the read ends early with no entries and no
// error. A connection that failed is dropped; the next read dials another.
func (r *blockingReader) read(ctx context.Context, a *goredis.XReadGroupArgs) ([]goredis.XStream, error) {
	if r.conn == nil {
		conn := r.client.Conn()
		id, err := conn.ClientID(ctx).Result()
		if err != nil {
			conn.Close()
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, err
		}
		r.conn, r.id = conn, id
	}
	finished := make(chan struct{})
	unblocked := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(unblocked)
		r.unblock(finished, a.Block)
	})
	// The read must not see ctx's end as its own failure: ending it is unblock's job.
	res, err := r.conn.XReadGroup(context.WithoutCancel(ctx), a).Result()
	close(finished)
	if !stop() {
		<-unblocked
	}
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, goredis.Nil): // the block timed out or was unblocked
		return nil, nil
	}
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		r.close() // the connection broke; a reply from Redis leaves it usable
	}
	return nil, err
}

// unblock ends the read on the reader's connection (CLIENT UNBLOCK ... TIMEOUT). The read
// may not have reached Redis yet, so it asks again until the read has finished; it gives up
// after the read's own block time, or when Redis refuses (no permission) or cannot be reached.
func (r *blockingReader) unblock(finished <-chan struct{}, block time.Duration) {
	deadline := time.Now().Add(block)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		n, err := r.client.ClientUnblock(ctx, r.id).Result()
		cancel()
		if err != nil || n == 1 || time.Now().After(deadline) {
			return
		}
		select {
		case <-finished:
			return
		case <-time.After(unblockPause):
		}
	}
}

// close drops the reader's connection.
func (r *blockingReader) close() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}
