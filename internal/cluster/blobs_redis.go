package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Defaults of RedisBlobs.
const (
	// DefaultChunk is the size of a blob's chunks in Redis: a little under 1 MiB, so that a
	// chunk and the header Redis keeps with it fit the allocator's 1 MiB size class (a chunk
	// of 1 MiB exactly takes the next one, 1.25 MiB).
	DefaultChunk = 1<<20 - 512
	// chunksPerTrip is how many chunks one round trip of Put carries.
	chunksPerTrip = 8
	// blobPending is how long a stored blob lives until a commit refers to it: the blob of an
	// upload whose commit never came goes away by itself.
	blobPending = time.Hour
)

// RedisBlobs keeps the binaries in Redis, under the cluster's prefix (docs/cluster.md):
//
//	PREFIX blob:SHA             hash: size (bytes), chunks (how many), 0, 1, ... (the chunks)
//	PREFIX blob:SHA:uploading   string: the temporary key of the upload in progress
//
// A blob is written under a temporary name and renamed, so that it is whole or absent. It
// expires an hour after it is stored until a commit refers to it (RedisFunctions.Commit
// persists it); Collect removes it once PREFIX blobrefs:SHA, kept by RedisFunctions, is empty.
type RedisBlobs struct {
	client *goredis.Client
	prefix string
	chunk  int
}

var _ Blobs = (*RedisBlobs)(nil)

// NewRedisBlobs keeps the binaries of the cluster named cluster in Redis through client,
// which the caller owns and closes, in chunks of chunk bytes (default DefaultChunk).
func NewRedisBlobs(client *goredis.Client, cluster string, chunk int) (*RedisBlobs, error) {
	prefix, err := validPrefix(cluster)
	if err != nil {
		return nil, err
	}
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	return &RedisBlobs{client: client, prefix: prefix, chunk: chunk}, nil
}

func (b *RedisBlobs) key(sum string) string { return b.prefix + "blob:" + sum }

// Has implements Blobs.
func (b *RedisBlobs) Has(ctx context.Context, sum string) (bool, error) {
	n, err := b.client.Exists(ctx, b.key(sum)).Result()
	if err != nil {
		return false, fmt.Errorf("redis: blob %s: %w", sum, err)
	}
	return n == 1, nil
}

// placeScript renames a written blob into place, unless the blob is there already, and gives
// it the pending expiry unless a commit persisted it. KEYS: the temporary key, the blob. ARGV:
// the expiry (ms).
var placeScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[1])
  if redis.call('PTTL', KEYS[2]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
  return 0
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
`)

// Put implements Blobs. While it writes, PREFIX blob:SHA:uploading names the temporary key,
// and it announces the blob on the registry's channel (blob:SHA) as it begins, so that nodes
// read the chunks as they land (see Get) rather than after the last one.
func (b *RedisBlobs) Put(ctx context.Context, sum, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("blob %s: %w", sum, err)
	}
	defer f.Close()
	key := b.key(sum)
	tmp := key + ":upload:" + randomHex()
	done := false
	defer func() {
		if !done {
			b.client.Del(context.WithoutCancel(ctx), tmp)
		}
	}()
	// The temporary key exists from the start: a reader that finds it gone knows the upload
	// stopped (or was put in place).
	pipe := b.client.Pipeline()
	pipe.HSet(ctx, tmp, "started", time.Now().UnixMilli())
	pipe.PExpire(ctx, tmp, blobPending)
	pipe.Set(ctx, key+":uploading", tmp, blobPending)
	pipe.Publish(ctx, b.prefix+"changes", "blob:"+sum)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis: put blob %s: %w", sum, err)
	}
	// Chunks go in batches, one round trip each: Redis applies each chunk as it arrives, so
	// readers follow chunk by chunk all the same. A batch's buffers are held until its round
	// trip ends, then reused.
	bufs := make([][]byte, chunksPerTrip)
	for i := range bufs {
		bufs[i] = make([]byte, b.chunk)
	}
	var size int64
	chunks := 0
	for last := false; !last; {
		pipe := b.client.Pipeline()
		for _, buf := range bufs {
			n, rerr := io.ReadFull(f, buf)
			last = rerr == io.EOF || rerr == io.ErrUnexpectedEOF
			if rerr != nil && !last {
				return fmt.Errorf("blob %s: %w", sum, rerr)
			}
			if n > 0 {
				pipe.HSet(ctx, tmp, strconv.Itoa(chunks), buf[:n])
				chunks++
				size += int64(n)
			}
			if last {
				// Readers know the blob whole once it has its length.
				pipe.HSet(ctx, tmp, "size", size, "chunks", chunks)
				break
			}
		}
		// The temporary key expires too: an upload cut short leaves nothing for long.
		pipe.PExpire(ctx, tmp, blobPending)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redis: put blob %s: %w", sum, err)
		}
	}
	if err := placeScript.Run(ctx, b.client, []string{tmp, key}, blobPending.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redis: put blob %s: %w", sum, err)
	}
	done = true
	return nil
}

// ErrNoBlob is a Get of a blob that is not stored.
var ErrNoBlob = errors.New("blob not stored")

// followFor bounds how long Get waits for the next chunk of an upload in progress.
const followFor = 30 * time.Second

// Get implements Blobs. A blob being stored (Put) is read as its chunks land, then from its
// place once it is whole.
func (b *RedisBlobs) Get(ctx context.Context, sum string, w io.Writer) error {
	key := b.key(sum)
	src := key
	if n, err := b.client.Exists(ctx, key).Result(); err != nil {
		return fmt.Errorf("redis: get blob %s: %w", sum, err)
	} else if n == 0 {
		tmp, err := b.client.Get(ctx, key+":uploading").Result()
		if errors.Is(err, goredis.Nil) {
			return fmt.Errorf("blob %s: %w", sum, ErrNoBlob)
		}
		if err != nil {
			return fmt.Errorf("redis: get blob %s: %w", sum, err)
		}
		src = tmp
	}
	progress := time.Now()
	for i, chunks := 0, -1; chunks < 0 || i < chunks; {
		pipe := b.client.Pipeline()
		chunk := pipe.HGet(ctx, src, strconv.Itoa(i))
		total := pipe.HGet(ctx, src, "chunks")
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
			return fmt.Errorf("redis: get blob %s: %w", sum, err)
		}
		if data, err := chunk.Bytes(); err == nil {
			if _, err := w.Write(data); err != nil {
				return fmt.Errorf("blob %s: %w", sum, err)
			}
			i++
			progress = time.Now()
			continue
		}
		if n, err := total.Int(); err == nil {
			chunks = n
			if i < chunks {
				return fmt.Errorf("blob %s: chunk %d is missing", sum, i)
			}
			continue
		}
		if src == key {
			return fmt.Errorf("blob %s: %w (or it has no length)", sum, ErrNoBlob)
		}
		// The upload is in progress, or was just put in place, or given up.
		if n, err := b.client.Exists(ctx, key).Result(); err == nil && n == 1 {
			src = key
			continue
		}
		if n, err := b.client.Exists(ctx, src).Result(); err == nil && n == 0 || time.Since(progress) > followFor {
			return fmt.Errorf("blob %s: the upload stopped: %w", sum, ErrNoBlob)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// collectScript removes a blob no version refers to. KEYS: the blob, its references.
var collectScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return redis.call('UNLINK', KEYS[1])
`)

// Collect implements Blobs.
func (b *RedisBlobs) Collect(ctx context.Context, sum string) error {
	if err := collectScript.Run(ctx, b.client, []string{b.key(sum), b.prefix + "blobrefs:" + sum}).Err(); err != nil {
		return fmt.Errorf("redis: collect blob %s: %w", sum, err)
	}
	return nil
}
