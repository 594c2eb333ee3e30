package cluster

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisStore keeps the node records in Redis, under the cluster's prefix
// edgefn:cluster:NAME: (docs/cluster.md):
//
//	PREFIX nodes      sorted set: node id → its last beat, in ms on Redis' clock
//	PREFIX node:ID    string: the node's record (JSON), expiring ttl after its last beat
//
// The set is trimmed of beats older than the ttl at every beat and expires with the last
// record, so that neither grows with nodes that left.
type RedisStore struct {
	client *goredis.Client
	prefix string
}

var _ Store = (*RedisStore)(nil)

// RedisPrefix is the prefix of every key of the cluster named cluster.
func RedisPrefix(cluster string) string { return "edgefn:cluster:" + cluster + ":" }

// validPrefix is RedisPrefix of cluster, once the name is checked: what every Redis store of
// the package keys its data under.
func validPrefix(cluster string) (string, error) {
	if err := ValidName(cluster); err != nil {
		return "", fmt.Errorf("cluster name %w", err)
	}
	return RedisPrefix(cluster), nil
}

// NewRedisStore keeps the records of the cluster named cluster in Redis through client, which
// the caller owns and closes.
func NewRedisStore(client *goredis.Client, cluster string) (*RedisStore, error) {
	prefix, err := validPrefix(cluster)
	if err != nil {
		return nil, err
	}
	return &RedisStore{client: client, prefix: prefix}, nil
}

// beatScript writes a record and notes its beat on Redis' clock.
// KEYS: the set, the record. ARGV: id, record, ttl (ms).
var beatScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl))
redis.call('PEXPIRE', KEYS[1], ttl)
return now
`)

func (s *RedisStore) nodesKey() string           { return s.prefix + "nodes" }
func (s *RedisStore) recordKey(id string) string { return s.prefix + "node:" + id }

// Beat implements Store.
func (s *RedisStore) Beat(ctx context.Context, n Node, ttl time.Duration) error {
	data, err := encodeRecord(n)
	if err != nil {
		return err
	}
	keys := []string{s.nodesKey(), s.recordKey(n.ID)}
	if err := beatScript.Run(ctx, s.client, keys, n.ID, data, ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redis: beat: %w", err)
	}
	return nil
}

// Records implements Store.
func (s *RedisStore) Records(ctx context.Context, max int) (time.Time, []Node, error) {
	pipe := s.client.Pipeline()
	now := pipe.Time(ctx)
	beats := pipe.ZRevRangeWithScores(ctx, s.nodesKey(), 0, int64(max-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return time.Time{}, nil, fmt.Errorf("redis: list nodes: %w", err)
	}
	if len(beats.Val()) == 0 {
		return now.Val(), nil, nil
	}
	keys := make([]string, len(beats.Val()))
	for i, z := range beats.Val() {
		keys[i] = s.recordKey(z.Member.(string))
	}
	vals, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("redis: list nodes: %w", err)
	}
	nodes := make([]Node, 0, len(vals))
	for i, v := range vals {
		data, ok := v.(string)
		if !ok {
			continue // expired since the set was read
		}
		z := beats.Val()[i]
		id := z.Member.(string)
		n, err := decodeRecord(id, []byte(data))
		if err != nil {
			n = Node{ID: id, Functions: []Function{}, Error: err.Error()}
		}
		n.LastSeen = time.UnixMilli(int64(z.Score)).UTC()
		nodes = append(nodes, n)
	}
	return now.Val(), nodes, nil
}
