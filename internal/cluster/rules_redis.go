package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisRules keeps a cluster's topic rules in Redis, under its prefix (docs/cluster.md):
//
//	PREFIX topics:seq        counter: the last version number given out
//	PREFIX topics:current    string: the current version number
//	PREFIX topics:versions   sorted set: the kept version numbers
//	PREFIX topics:v:N        string: version N's RulesEntry (JSON)
//	PREFIX topics:changes    channel: a message after each change
type RedisRules struct {
	client *goredis.Client
	prefix string
}

var _ RulesStore = (*RedisRules)(nil)

// NewRedisRules keeps the topic rules of the cluster named cluster in Redis through client,
// which the caller owns and closes.
func NewRedisRules(client *goredis.Client, cluster string) (*RedisRules, error) {
	prefix, err := validPrefix(cluster)
	if err != nil {
		return nil, err
	}
	return &RedisRules{client: client, prefix: prefix + "topics:"}, nil
}

// rulesCommitScript: ARGV prefix, version (from seq), entry, ifVersion, keep.
// Returns {'ok', version} or {'conflict', current}.
var rulesCommitScript = goredis.NewScript(`
local p, n, entry = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local ifv, keep = tonumber(ARGV[4]), tonumber(ARGV[5])
local cur = tonumber(redis.call('GET', p .. 'current') or '0')
if (ifv == -1 and cur ~= 0) or (ifv > 0 and cur ~= ifv) then return {'conflict', cur} end
redis.call('SET', p .. 'v:' .. n, entry)
redis.call('ZADD', p .. 'versions', n, n)
redis.call('SET', p .. 'current', n)
local vs = redis.call('ZRANGE', p .. 'versions', 0, -1)
local excess = #vs - keep
for i = 1, #vs do
  if excess <= 0 then break end
  if tonumber(vs[i]) ~= n then
    redis.call('DEL', p .. 'v:' .. vs[i])
    redis.call('ZREM', p .. 'versions', vs[i])
    excess = excess - 1
  end
end
redis.call('PUBLISH', p .. 'changes', n)
return {'ok', n}
`)

// rulesSetCurrentScript: ARGV prefix, version, expect. Returns {'ok'|'conflict'|'gone', current}.
var rulesSetCurrentScript = goredis.NewScript(`
local p, n, expect = ARGV[1], ARGV[2], tonumber(ARGV[3])
local cur = tonumber(redis.call('GET', p .. 'current') or '0')
if cur ~= expect then return {'conflict', cur} end
if redis.call('EXISTS', p .. 'v:' .. n) == 0 then return {'gone', cur} end
redis.call('SET', p .. 'current', n)
redis.call('PUBLISH', p .. 'changes', n)
return {'ok', cur}
`)

// Commit implements RulesStore. The version number is taken first (INCR topics:seq): one a
// refused commit took is not given out again.
func (s *RedisRules) Commit(ctx context.Context, e RulesEntry, ifVersion, keep int) (int, error) {
	n, err := s.client.Incr(ctx, s.prefix+"seq").Result()
	if err != nil {
		return 0, fmt.Errorf("redis: next version of the topic rules: %w", err)
	}
	e.Version = int(n)
	data, err := EncodeRules(e)
	if err != nil {
		return 0, err
	}
	if keep < 1 {
		keep = DefaultKeep
	}
	res, err := rulesCommitScript.Run(ctx, s.client, nil, s.prefix, n, data, ifVersion, keep).Slice()
	if err != nil {
		return 0, fmt.Errorf("redis: commit topic rules v%d: %w", n, err)
	}
	status, v, _ := scriptResult(res)
	if status == "conflict" {
		return 0, &ConflictError{Current: v}
	}
	return v, nil
}

// SetCurrent implements RulesStore.
func (s *RedisRules) SetCurrent(ctx context.Context, n, expect int) error {
	res, err := rulesSetCurrentScript.Run(ctx, s.client, nil, s.prefix, n, expect).Slice()
	if err != nil {
		return fmt.Errorf("redis: set topic rules to v%d: %w", n, err)
	}
	switch status, cur, _ := scriptResult(res); status {
	case "conflict":
		return &ConflictError{Current: cur}
	case "gone":
		return fmt.Errorf("topic rules v%d: %w", n, ErrGone)
	}
	return nil
}

// State implements RulesStore.
func (s *RedisRules) State(ctx context.Context) (RulesState, error) {
	pipe := s.client.Pipeline()
	cur := pipe.Get(ctx, s.prefix+"current")
	vs := pipe.ZRange(ctx, s.prefix+"versions", 0, -1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return RulesState{}, fmt.Errorf("redis: read topic rules: %w", err)
	}
	var st RulesState
	st.Current, _ = strconv.Atoi(cur.Val())
	for _, v := range vs.Val() {
		if n, err := strconv.Atoi(v); err == nil {
			st.Versions = append(st.Versions, n)
		}
	}
	return st, nil
}

// Entry implements RulesStore.
func (s *RedisRules) Entry(ctx context.Context, n int) (RulesEntry, error) {
	data, err := s.client.Get(ctx, s.prefix+"v:"+strconv.Itoa(n)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return RulesEntry{}, fmt.Errorf("topic rules v%d: %w", n, ErrGone)
	}
	if err != nil {
		return RulesEntry{}, fmt.Errorf("redis: read topic rules v%d: %w", n, err)
	}
	return DecodeRules(n, data)
}

// Watch implements RulesStore. The subscription reconnects by itself; every (re)connect is
// sent as a change, since changes may have been missed meanwhile.
func (s *RedisRules) Watch(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	ps := s.client.Subscribe(ctx, s.prefix+"changes")
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			msg, err := ps.ReceiveTimeout(ctx, watchPing)
			if ctx.Err() != nil {
				return
			}
			var nerr interface{ Timeout() bool }
			if errors.As(err, &nerr) && nerr.Timeout() {
				err = ps.Ping(ctx)
				msg = nil
			}
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(watchRetry):
				}
				continue
			}
			switch msg.(type) {
			case *goredis.Subscription, *goredis.Message:
				select {
				case out <- struct{}{}:
				default: // one pending value stands for every change since
				}
			}
		}
	}()
	return out
}
