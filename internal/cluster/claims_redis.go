package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/redis"
)

// RedisClaims are keys that one node of the cluster holds at a time, under the cluster's
// prefix: PREFIX schedule:FUNCTION:INDEX:UNIX claims an instant of a schedule trigger, and
// PREFIX schedule:FUNCTION:INDEX:running its run in progress (docs/cluster.md). Each is one
// SET NX PX, so exactly one node takes it, and it expires. They also keep the schedules'
// state: PREFIX schedule:FUNCTION:paused while a function's schedules are paused, and
// PREFIX schedule:FUNCTION:INDEX:last, the last instant (Unix seconds) a trigger fired.
type RedisClaims struct {
	client *goredis.Client
	prefix string
	runs   *redis.Streams // the run streams Fire appends to; nil: none
}

// NewRedisClaims keeps the claims of the cluster named cluster in Redis through client,
// which the caller owns and closes.
func NewRedisClaims(client *goredis.Client, cluster string) (*RedisClaims, error) {
	prefix, err := validPrefix(cluster)
	if err != nil {
		return nil, err
	}
	return &RedisClaims{client: client, prefix: prefix}, nil
}

// Claim takes key for owner for ttl unless someone holds it, reporting whether it did.
func (c *RedisClaims) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	err := c.client.SetArgs(ctx, c.prefix+key, owner, goredis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, goredis.Nil):
		return false, nil
	}
	return false, fmt.Errorf("redis: claim %s: %w", key, err)
}

// releaseScript deletes a key only while its owner holds it. KEYS: the key. ARGV: the owner.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Release gives key up if owner still holds it.
func (c *RedisClaims) Release(ctx context.Context, key, owner string) error {
	if err := releaseScript.Run(ctx, c.client, []string{c.prefix + key}, owner).Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("redis: release %s: %w", key, err)
	}
	return nil
}

// releaseAllScript deletes each key only while its owner holds it. KEYS: the keys. ARGV:
// their owners, in the same order.
var releaseAllScript = goredis.NewScript(`
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then redis.call('DEL', KEYS[i]) end
end
return 0
`)

// ReleaseAll gives up each of keys that its owner (at the same place in owners) still holds,
// in one script: it implements dispatch.ReleaserAll.
func (c *RedisClaims) ReleaseAll(ctx context.Context, keys, owners []string) error {
	if len(keys) != len(owners) {
		return fmt.Errorf("redis: release %d keys of %d owners", len(keys), len(owners))
	}
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	args := make([]any, len(owners))
	for i, k := range keys {
		full[i], args[i] = c.prefix+k, owners[i]
	}
	if err := releaseAllScript.Run(ctx, c.client, full, args...).Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("redis: release %d keys: %w", len(keys), err)
	}
	return nil
}

// fireScript fires ticks of one function, each on its own: it claims each instant unless the
// function is paused, records it as the trigger's last (a paused instant too: it passed while
// a node ran, and is never caught up), with a lock ttl takes the trigger's run lock, and, when
// the tick carries its run's entry, appends it to the run stream: a run is in the stream
// exactly when its instant is taken, with no moment between the two.
// KEYS: the function's paused key, its run stream (the paused key again when no tick carries
// a run), then for each tick its instant's claim, its trigger's last and its run lock.
// ARGV: the claims' owner prefix and ttl in ms, the run stream's MAXLEN ~ (0: not trimmed),
// then for each tick its instant in Unix seconds, its lock's ttl in ms (0: no lock), the
// lock's owner, the number of fields of its run's entry (0: no run to append) and the fields.
// It returns one value of dispatch.Fired per tick: 0 taken, 1 claimed already, 2 paused, 3
// the lock is held.
var fireScript = goredis.NewScript(`
local paused = redis.call('EXISTS', KEYS[1]) == 1
local maxLen = tonumber(ARGV[3])
local out = {}
local a = 4
for i = 0, (#KEYS - 2) / 3 - 1 do
  local claim, lastKey, lock = KEYS[3 + 3*i], KEYS[4 + 3*i], KEYS[5 + 3*i]
  local unix, lockTTL, lockOwner, nFields = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], tonumber(ARGV[a + 3])
  local fields = a + 4
  a = fields + nFields
  local r = 0
  if not paused and not redis.call('SET', claim, ARGV[1] .. unix, 'NX', 'PX', ARGV[2]) then
    r = 1
  else
    local last = tonumber(redis.call('GET', lastKey) or '0')
    if tonumber(unix) > last then redis.call('SET', lastKey, unix) end
    if paused then
      r = 2
    elseif lockTTL > 0 and not redis.call('SET', lock, lockOwner, 'NX', 'PX', lockTTL) then
      r = 3
    end
  end
  if r == 0 and nFields > 0 then
    if maxLen > 0 then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxLen, '*', unpack(ARGV, fields, a - 1))
    else
      redis.call('XADD', KEYS[2], '*', unpack(ARGV, fields, a - 1))
    end
  end
  out[#out + 1] = r
end
return out
`)

// AppendRuns makes Fire append the run of each tick it takes to the tick's run stream in
// the claim's script, for the run streams of streams, which must be on the claims' Redis.
func (c *RedisClaims) AppendRuns(streams *redis.Streams) { c.runs = streams }

// AppendsRuns implements dispatch.RunAppender: Fire appends the runs read through streams
// when AppendRuns was given them.
func (c *RedisClaims) AppendsRuns(streams triggers.Streams) bool {
	return c.runs != nil && streams == triggers.Streams(c.runs)
}

// Fire fires ticks with one fireScript per function and run stream, all in one pipeline.
func (c *RedisClaims) Fire(ctx context.Context, owner string, ttl time.Duration, ticks ...dispatch.Tick) ([]dispatch.Fired, error) {
	if len(ticks) == 0 {
		return nil, nil
	}
	// The ticks by function and run stream, in order of first appearance; where each one's
	// answer goes.
	type group struct{ function, stream string }
	var groups []group
	byGroup := map[group][]int{}
	for i, t := range ticks {
		if t.Run != nil && (c.runs == nil || t.Stream == "") {
			return nil, fmt.Errorf("redis: fire: tick %s/%d carries a run the claims cannot append", t.Function, t.Index)
		}
		g := group{t.Function, t.Stream}
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], i)
	}
	out := make([]dispatch.Fired, len(ticks))
	for attempt := 0; ; attempt++ {
		cmds, err := c.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, g := range groups {
				idx := byGroup[g]
				paused := c.prefix + dispatch.ScheduleKey(g.function, -1, "paused")
				keys := make([]string, 2, 2+3*len(idx))
				args := make([]any, 3, 3+5*len(idx))
				keys[0], keys[1] = paused, paused
				args[0], args[1], args[2] = owner+"/", ttl.Milliseconds(), 0
				if g.stream != "" {
					keys[1] = g.stream
				}
				for _, i := range idx {
					t := ticks[i]
					unix := strconv.FormatInt(t.At.Unix(), 10)
					keys = append(keys, c.prefix+dispatch.ScheduleKey(g.function, t.Index, unix),
						c.prefix+dispatch.ScheduleKey(g.function, t.Index, "last"), c.prefix+dispatch.RunLockKey(g.function, t.Index))
					args = append(args, unix, t.LockTTL.Milliseconds(), dispatch.RunLockOwner(t.At))
					if t.Run == nil {
						args = append(args, 0)
						continue
					}
					fields, maxLen := c.runs.Entry(t.Run)
					args[2] = maxLen
					args = append(args, len(fields))
					args = append(args, fields...)
				}
				fireScript.EvalSha(ctx, p, keys, args...)
			}
			return nil
		})
		if err != nil && attempt == 0 && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			if err := fireScript.Load(ctx, c.client).Err(); err != nil {
				return nil, fmt.Errorf("redis: load the fire script: %w", err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redis: fire %d ticks: %w", len(ticks), err)
		}
		for k, cmd := range cmds {
			res, err := cmd.(*goredis.Cmd).Int64Slice()
			idx := byGroup[groups[k]]
			if err == nil && len(res) != len(idx) {
				err = fmt.Errorf("%d answers to %d ticks", len(res), len(idx))
			}
			if err != nil {
				return nil, fmt.Errorf("redis: fire: %w", err)
			}
			for j, i := range idx {
				out[i] = dispatch.Fired(res[j])
			}
		}
		return out, nil
	}
}

// Last returns the last instant the trigger fired; zero when it never did.
func (c *RedisClaims) Last(ctx context.Context, function string, index int) (time.Time, error) {
	key := c.prefix + dispatch.ScheduleKey(function, index, "last")
	n, err := c.client.Get(ctx, key).Int64()
	switch {
	case errors.Is(err, goredis.Nil):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("redis: get %s: %w", key, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// SetPaused sets or deletes the function's paused key.
func (c *RedisClaims) SetPaused(ctx context.Context, function string, paused bool) error {
	key := c.prefix + dispatch.ScheduleKey(function, -1, "paused")
	var err error
	if paused {
		err = c.client.Set(ctx, key, "1", 0).Err()
	} else {
		err = c.client.Del(ctx, key).Err()
	}
	if err != nil {
		return fmt.Errorf("redis: pause %s: %w", key, err)
	}
	return nil
}

// Paused reports whether the function's paused key exists.
func (c *RedisClaims) Paused(ctx context.Context, function string) (bool, error) {
	key := c.prefix + dispatch.ScheduleKey(function, -1, "paused")
	n, err := c.client.Exists(ctx, key).Result()
	if err != nil {
		return false, fmt.Errorf("redis: exists %s: %w", key, err)
	}
	return n == 1, nil
}
