package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisFunctions is the shared function registry in Redis, under the cluster's prefix
// edgefn:cluster:NAME: (docs/cluster.md):
//
//	PREFIX registry             string: the registry's epoch, set by the first commit
//	PREFIX functions            set: the names of the deployed functions
//	PREFIX fn:NAME:seq          counter: the last version number given out (never deleted)
//	PREFIX fn:NAME:current      string: the current version number
//	PREFIX fn:NAME:versions     sorted set: the kept version numbers
//	PREFIX fn:NAME:sums         hash: kept version number → its binary's sha256
//	PREFIX fn:NAME:v:N          string: version N's Entry (JSON)
//	PREFIX blobrefs:SHA         set: NAME:N of every kept version whose binary is SHA
//	PREFIX changes              channel: changed:NAME or deleted:NAME after each change,
//	                            blob:SHA when a deploy begins to store a binary (RedisBlobs)
//
// Every change is one Lua script, so it is atomic and announced in the same step. The
// scripts name keys they compute (a function's versions, a blob's references), which a
// Redis Cluster would refuse: the registry needs one Redis (or a primary and its replicas).
type RedisFunctions struct {
	client *goredis.Client
	prefix string
}

var _ FunctionStore = (*RedisFunctions)(nil)

// NewRedisFunctions keeps the function registry of the cluster named cluster in Redis
// through client, which the caller owns and closes.
func NewRedisFunctions(client *goredis.Client, cluster string) (*RedisFunctions, error) {
	prefix, err := validPrefix(cluster)
	if err != nil {
		return nil, err
	}
	return &RedisFunctions{client: client, prefix: prefix}, nil
}

func (s *RedisFunctions) fnKey(name, suffix string) string {
	return s.prefix + "fn:" + name + ":" + suffix
}

// dropLua removes kept version v of the function whose keys start with fk, and its blob's
// reference; it returns the blob's sum when no kept version refers to it any more, else nil.
const dropLua = `
local function drop(p, fk, name, v)
  local sha = redis.call('HGET', fk .. 'sums', v)
  redis.call('HDEL', fk .. 'sums', v)
  redis.call('DEL', fk .. 'v:' .. v)
  redis.call('ZREM', fk .. 'versions', v)
  if not sha then return nil end
  local refs = p .. 'blobrefs:' .. sha
  redis.call('SREM', refs, name .. ':' .. v)
  if redis.call('SCARD', refs) == 0 then
    redis.call('DEL', refs)
    return sha
  end
  return nil
end
`

// commitScript: ARGV prefix, name, version, entry, sha, ifVersion, keep, epoch.
// Returns {'ok'|'conflict'|'noblob', current, unreferenced sums...}.
var commitScript = goredis.NewScript(dropLua + `
local p, name, n, entry, sha = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ifv, keep = tonumber(ARGV[6]), tonumber(ARGV[7])
local fk = p .. 'fn:' .. name .. ':'
local cur = tonumber(redis.call('GET', fk .. 'current') or '0')
if (ifv == -1 and cur ~= 0) or (ifv > 0 and cur ~= ifv) then return {'conflict', cur} end
local blob = p .. 'blob:' .. sha
if redis.call('EXISTS', blob) == 0 then return {'noblob', cur} end
redis.call('PERSIST', blob)
redis.call('SET', p .. 'registry', ARGV[8], 'NX')
redis.call('SET', fk .. 'v:' .. n, entry)
redis.call('ZADD', fk .. 'versions', tonumber(n), n)
redis.call('HSET', fk .. 'sums', n, sha)
redis.call('SADD', p .. 'blobrefs:' .. sha, name .. ':' .. n)
redis.call('SET', fk .. 'current', n)
redis.call('SADD', p .. 'functions', name)
local out = {'ok', cur}
local vs = redis.call('ZRANGE', fk .. 'versions', 0, -1)
local excess = #vs - keep
for i = 1, #vs do
  if excess <= 0 then break end
  if vs[i] ~= n then
    local gone = drop(p, fk, name, vs[i])
    if gone then table.insert(out, gone) end
    excess = excess - 1
  end
end
redis.call('PUBLISH', p .. 'changes', 'changed:' .. name)
return out
`)

// setCurrentScript: ARGV prefix, name, version, expect. Returns {'ok'|'conflict'|'gone', current}.
var setCurrentScript = goredis.NewScript(`
local p, name, n, expect = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local fk = p .. 'fn:' .. name .. ':'
local cur = tonumber(redis.call('GET', fk .. 'current') or '0')
if cur ~= expect then return {'conflict', cur} end
if redis.call('EXISTS', fk .. 'v:' .. n) == 0 then return {'gone', cur} end
redis.call('SET', fk .. 'current', n)
redis.call('PUBLISH', p .. 'changes', 'changed:' .. name)
return {'ok', cur}
`)

// deleteScript: ARGV prefix, name. Returns {'ok'|'none', unreferenced sums...}.
var deleteScript = goredis.NewScript(dropLua + `
local p, name = ARGV[1], ARGV[2]
local fk = p .. 'fn:' .. name .. ':'
redis.call('PUBLISH', p .. 'changes', 'deleted:' .. name)
if redis.call('EXISTS', fk .. 'current') == 0 then return {'none'} end
local out = {'ok'}
for _, v in ipairs(redis.call('ZRANGE', fk .. 'versions', 0, -1)) do
  local gone = drop(p, fk, name, v)
  if gone then table.insert(out, gone) end
end
redis.call('DEL', fk .. 'current', fk .. 'versions', fk .. 'sums')
redis.call('SREM', p .. 'functions', name)
return out
`)

// Next implements FunctionStore.
func (s *RedisFunctions) Next(ctx context.Context, name string) (int, error) {
	n, err := s.client.Incr(ctx, s.fnKey(name, "seq")).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: next version of %s: %w", name, err)
	}
	return int(n), nil
}

// Commit implements FunctionStore.
func (s *RedisFunctions) Commit(ctx context.Context, e Entry, ifVersion, keep int) ([]string, error) {
	data, err := EncodeEntry(e)
	if err != nil {
		return nil, err
	}
	if keep < 1 {
		keep = DefaultKeep
	}
	epoch := make([]byte, 8)
	_, _ = rand.Read(epoch)
	res, err := commitScript.Run(ctx, s.client, nil, s.prefix, e.Name, e.Version, data, e.SHA256,
		ifVersion, keep, hex.EncodeToString(epoch)+"@"+strconv.FormatInt(time.Now().Unix(), 10)).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis: commit %s v%d: %w", e.Name, e.Version, err)
	}
	status, cur, rest := scriptResult(res)
	switch status {
	case "conflict":
		return nil, &ConflictError{Current: cur}
	case "noblob":
		return nil, fmt.Errorf("commit %s v%d: %w", e.Name, e.Version, ErrBlobMissing)
	}
	return rest, nil
}

// scriptResult splits a script's answer: its status, the number after it and the strings
// after that.
func scriptResult(res []any) (status string, n int, rest []string) {
	if len(res) > 0 {
		status, _ = res[0].(string)
	}
	if len(res) > 1 {
		if v, ok := res[1].(int64); ok {
			n = int(v)
		}
	}
	for _, v := range res[min(len(res), 2):] {
		if str, ok := v.(string); ok {
			rest = append(rest, str)
		}
	}
	return status, n, rest
}

// SetCurrent implements FunctionStore.
func (s *RedisFunctions) SetCurrent(ctx context.Context, name string, n, expect int) error {
	res, err := setCurrentScript.Run(ctx, s.client, nil, s.prefix, name, n, expect).Slice()
	if err != nil {
		return fmt.Errorf("redis: set %s to v%d: %w", name, n, err)
	}
	switch status, cur, _ := scriptResult(res); status {
	case "conflict":
		return &ConflictError{Current: cur}
	case "gone":
		return fmt.Errorf("%s v%d: %w", name, n, ErrGone)
	}
	return nil
}

// Delete implements FunctionStore.
func (s *RedisFunctions) Delete(ctx context.Context, name string) ([]string, bool, error) {
	res, err := deleteScript.Run(ctx, s.client, nil, s.prefix, name).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("redis: delete %s: %w", name, err)
	}
	if len(res) == 0 || res[0] != "ok" {
		return nil, false, nil
	}
	var gone []string
	for _, v := range res[1:] {
		if str, ok := v.(string); ok {
			gone = append(gone, str)
		}
	}
	return gone, true, nil
}

// Function implements FunctionStore.
func (s *RedisFunctions) Function(ctx context.Context, name string) (FunctionState, error) {
	pipe := s.client.Pipeline()
	cur := pipe.Get(ctx, s.fnKey(name, "current"))
	vs := pipe.ZRange(ctx, s.fnKey(name, "versions"), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return FunctionState{}, fmt.Errorf("redis: read %s: %w", name, err)
	}
	st := FunctionState{Name: name}
	st.Current, _ = strconv.Atoi(cur.Val())
	for _, v := range vs.Val() {
		if n, err := strconv.Atoi(v); err == nil {
			st.Versions = append(st.Versions, n)
		}
	}
	return st, nil
}

// Entry implements FunctionStore.
func (s *RedisFunctions) Entry(ctx context.Context, name string, n int) (Entry, error) {
	data, err := s.client.Get(ctx, s.fnKey(name, "v:"+strconv.Itoa(n))).Bytes()
	if errors.Is(err, goredis.Nil) {
		return Entry{}, fmt.Errorf("%s v%d: %w", name, n, ErrGone)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("redis: read %s v%d: %w", name, n, err)
	}
	return DecodeEntry(name, n, data)
}

// Snapshot implements FunctionStore.
func (s *RedisFunctions) Snapshot(ctx context.Context) (Snapshot, error) {
	pipe := s.client.Pipeline()
	epoch := pipe.Get(ctx, s.prefix+"registry")
	names := pipe.SMembers(ctx, s.prefix+"functions")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return Snapshot{}, fmt.Errorf("redis: read the registry: %w", err)
	}
	snap := Snapshot{Epoch: epoch.Val(), Current: map[string]Entry{}, Bad: map[string]string{}}
	if len(names.Val()) == 0 {
		return snap, nil
	}
	pipe = s.client.Pipeline()
	curs := make([]*goredis.StringCmd, len(names.Val()))
	for i, name := range names.Val() {
		curs[i] = pipe.Get(ctx, s.fnKey(name, "current"))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return Snapshot{}, fmt.Errorf("redis: read the registry: %w", err)
	}
	pipe = s.client.Pipeline()
	entries := make([]*goredis.StringCmd, len(curs))
	nums := make([]int, len(curs))
	for i, c := range curs {
		nums[i], _ = strconv.Atoi(c.Val())
		entries[i] = pipe.Get(ctx, s.fnKey(names.Val()[i], "v:"+strconv.Itoa(nums[i])))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return Snapshot{}, fmt.Errorf("redis: read the registry: %w", err)
	}
	for i, name := range names.Val() {
		if nums[i] == 0 {
			continue // deleted since the set was read
		}
		data, err := entries[i].Bytes()
		if err != nil {
			snap.Bad[name] = fmt.Sprintf("registry entry %s v%d is missing", name, nums[i])
			continue
		}
		e, err := DecodeEntry(name, nums[i], data)
		if err != nil {
			snap.Bad[name] = err.Error()
			continue
		}
		snap.Current[name] = e
	}
	return snap, nil
}

// watchRetry is the pause before a subscription that failed is tried again; watchPing is how
// long a quiet subscription waits before it checks its connection with a PING.
const (
	watchRetry = 500 * time.Millisecond
	watchPing  = 5 * time.Second
)

// Watch implements FunctionStore. The subscription reconnects by itself; its confirmation,
// after every (re)connect, is sent as a Resync, and a failure of it as a Down, once.
func (s *RedisFunctions) Watch(ctx context.Context) <-chan Change {
	out := make(chan Change, 64)
	ps := s.client.Subscribe(ctx, s.prefix+"changes")
	// must sends a change that may not be lost, waiting for room.
	must := func(c Change) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(out)
		defer ps.Close()
		dropped, down := false, false
		for {
			msg, err := ps.ReceiveTimeout(ctx, watchPing)
			if ctx.Err() != nil {
				return
			}
			var nerr interface{ Timeout() bool }
			if errors.As(err, &nerr) && nerr.Timeout() {
				err = ps.Ping(ctx) // a quiet channel, or a connection gone silent
			}
			if err != nil {
				if !down {
					down = true
					if !must(Change{Down: err.Error()}) {
						return
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(watchRetry):
				}
				continue
			}
			var c Change
			switch m := msg.(type) {
			case *goredis.Subscription:
				c.Resync, down = true, false
			case *goredis.Message:
				kind, name, _ := strings.Cut(m.Payload, ":")
				switch kind {
				case "blob":
					c = Change{Blob: name}
				default:
					c = Change{Name: name, Deleted: kind == "deleted"}
				}
			default:
				continue
			}
			if c.Resync || dropped {
				// A resync must not be lost. After changes were dropped, one stands for them.
				if !must(Change{Resync: true}) {
					return
				}
				dropped = false
				if c.Resync {
					continue
				}
			}
			select {
			case out <- c:
			default: // the reader is behind: a resync follows at the next message
				dropped = true
			}
		}
	}()
	return out
}
