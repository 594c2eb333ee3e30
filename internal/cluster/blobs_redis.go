package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// blobPending is how long a stored blob lives until a commit refers to it: the blob of an
	// upload whose commit never came goes away by itself.
	blobPending = time.Hour
	// chunksPerTrip is how many chunks one round trip to Redis carries.
	chunksPerTrip = 4
)

// RedisBlobs keeps the binaries in Redis, under the cluster's prefix (docs/cluster.md):
//
//	PREFIX blob:SHA   hash: size (bytes), chunks (how many), 0, 1, ... (the chunks)
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
	if err := ValidName(cluster); err != nil {
		return nil, fmt.Errorf("cluster name %w", err)
	}
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	return &RedisBlobs{client: client, prefix: RedisPrefix(cluster), chunk: chunk}, nil
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

// Put implements Blobs.
func (b *RedisBlobs) Put(ctx context.Context, sum, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("blob %s: %w", sum, err)
	}
	defer f.Close()
	r := make([]byte, 8)
	_, _ = rand.Read(r)
	tmp := b.key(sum) + ":upload:" + hex.EncodeToString(r)
	done := false
	defer func() {
		if !done {
			b.client.Del(context.WithoutCancel(ctx), tmp)
		}
	}()
	var size int64
	chunks := 0
	for eof := false; !eof; {
		pipe := b.client.Pipeline()
		for range chunksPerTrip {
			// Each chunk has its own buffer: the pipeline writes them out at Exec.
			buf := make([]byte, b.chunk)
			n, rerr := io.ReadFull(f, buf)
			if n > 0 {
				pipe.HSet(ctx, tmp, strconv.Itoa(chunks), buf[:n])
				chunks++
				size += int64(n)
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				eof = true
				break
			}
			if rerr != nil {
				return fmt.Errorf("blob %s: %w", sum, rerr)
			}
		}
		pipe.HSet(ctx, tmp, "size", size, "chunks", chunks)
		// The temporary key expires too: an upload cut short leaves nothing for long.
		pipe.PExpire(ctx, tmp, blobPending)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redis: put blob %s: %w", sum, err)
		}
	}
	if err := placeScript.Run(ctx, b.client, []string{tmp, b.key(sum)}, blobPending.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redis: put blob %s: %w", sum, err)
	}
	done = true
	return nil
}

// ErrNoBlob is a Get of a blob that is not stored.
var ErrNoBlob = errors.New("blob not stored")

// Get implements Blobs.
func (b *RedisBlobs) Get(ctx context.Context, sum string, w io.Writer) error {
	key := b.key(sum)
	head, err := b.client.HMGet(ctx, key, "size", "chunks").Result()
	if err != nil {
		return fmt.Errorf("redis: get blob %s: %w", sum, err)
	}
	if head[0] == nil || head[1] == nil {
		return fmt.Errorf("blob %s: %w", sum, ErrNoBlob)
	}
	chunks, _ := strconv.Atoi(fmt.Sprint(head[1]))
	for i := 0; i < chunks; i += chunksPerTrip {
		fields := make([]string, 0, chunksPerTrip)
		for k := i; k < min(chunks, i+chunksPerTrip); k++ {
			fields = append(fields, strconv.Itoa(k))
		}
		vals, err := b.client.HMGet(ctx, key, fields...).Result()
		if err != nil {
			return fmt.Errorf("redis: get blob %s: %w", sum, err)
		}
		for k, v := range vals {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("blob %s: chunk %s is missing", sum, fields[k])
			}
			if _, err := io.WriteString(w, s); err != nil {
				return fmt.Errorf("blob %s: %w", sum, err)
			}
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
