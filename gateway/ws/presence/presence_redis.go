package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Redis keeps the members of the cluster's topics in Redis, under the cluster's key prefix
// (PREFIX is edgefn:cluster:NAME:, as internal/cluster's keys). A topic T has four keys:
//
//	PREFIX presence:T        sorted set of client IDs, all scored 0: the pages, in order
//	PREFIX presence:T:exp    sorted set of client IDs scored by when they expire (ms, Redis TIME)
//	PREFIX presence:T:data   hash client ID → LEN:SUB followed by the member's JSON
//	PREFIX presence:T:users  hash subject → how many of the members have it
//
// Each script keeps the four in step, and makes them expire with the member that expires last
// (never sooner: nodes may refresh with different TTLs). A
// member expires TTL after its node last refreshed it; reads prune what expired, and the
// node that prunes a member publishes its leave. Events go out on the channel
// PREFIX presence, to every node.
type Redis struct {
	client  *goredis.Client
	prefix  string
	channel string
	ttl     time.Duration
	logger  *slog.Logger
	wg      sync.WaitGroup
}

var _ Store = (*Redis)(nil)

// NewRedis keeps presence in Redis through client (which the caller owns and closes), under
// prefix (the cluster's), with entries that expire ttl after their last refresh.
func NewRedis(client *goredis.Client, prefix string, ttl time.Duration, logger *slog.Logger) (*Redis, error) {
	if ttl <= 0 {
		return nil, errors.New("presence: the ttl must be positive")
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Redis{client: client, prefix: prefix, channel: prefix + "presence", ttl: ttl, logger: logger}, nil
}

// Wait waits for the listeners, whose contexts ended, to stop.
func (s *Redis) Wait() { s.wg.Wait() }

func (s *Redis) keys(topic string) []string {
	k := s.prefix + "presence:" + topic
	return []string{k, k + ":exp", k + ":data", k + ":users"}
}

// The scripts' common part. KEYS: the topic's four keys. ARGV[1]: the channel, ARGV[2]: the
// topic as a JSON string, ARGV[3]: the ttl in ms.
const luaPrelude = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function split(v)
  local n = string.match(v, '^(%d+):')
  local l = tonumber(n)
  return string.sub(v, #n + 2, #n + 1 + l), string.sub(v, #n + 2 + l)
end
local function publish(kind, json)
  redis.call('PUBLISH', ARGV[1], '{"topic":' .. ARGV[2] .. ',"' .. kind .. '":' .. json .. '}')
end
local function add(client, v, exp)
  local new = redis.call('ZADD', KEYS[2], exp, client)
  if new == 1 then
    redis.call('ZADD', KEYS[1], 0, client)
    redis.call('HSET', KEYS[3], client, v)
    local sub, json = split(v)
    if sub ~= '' then redis.call('HINCRBY', KEYS[4], sub, 1) end
    publish('join', json)
  end
end
local function remove(client)
  local v = redis.call('HGET', KEYS[3], client)
  redis.call('ZREM', KEYS[1], client)
  redis.call('ZREM', KEYS[2], client)
  if not v then return end
  redis.call('HDEL', KEYS[3], client)
  local sub, json = split(v)
  if sub ~= '' and redis.call('HINCRBY', KEYS[4], sub, -1) <= 0 then redis.call('HDEL', KEYS[4], sub) end
  publish('leave', json)
end
local function prune(t)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', t)
  for _, c in ipairs(gone) do remove(c) end
end
local function keep(t, exp)
  for i = 1, 4 do
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl == -1 or (ttl >= 0 and t + ttl < exp) then redis.call('PEXPIREAT', KEYS[i], exp) end
  end
end
`

// refreshScript prunes, then adds or extends the members of ARGV[4..] (client, value pairs);
// a join is one of them.
var refreshScript = goredis.NewScript(luaPrelude + `
local t = now()
prune(t)
local exp = t + tonumber(ARGV[3])
for i = 4, #ARGV, 2 do add(ARGV[i], ARGV[i + 1], exp) end
if redis.call('EXISTS', KEYS[2]) == 1 then keep(t, exp) end
return 1
`)

// leaveScript removes the client ARGV[4].
var leaveScript = goredis.NewScript(luaPrelude + `
remove(ARGV[4])
return 1
`)

// pageScript prunes, then returns the values of at most ARGV[5] + 1 members after ARGV[4].
var pageScript = goredis.NewScript(luaPrelude + `
prune(now())
local from = '-'
if ARGV[4] ~= '' then from = '(' .. ARGV[4] end
local ids = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, tonumber(ARGV[5]) + 1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[3], unpack(ids))
`)

// statsScript prunes, then counts the members and subjects.
var statsScript = goredis.NewScript(luaPrelude + `
prune(now())
return {redis.call('ZCARD', KEYS[1]), redis.call('HLEN', KEYS[4])}
`)

func (s *Redis) args(topic string, rest ...any) []any {
	return append([]any{s.channel, strconv.Quote(topic), s.ttl.Milliseconds()}, rest...)
}

// value is how a member is kept: LEN:SUB then its JSON.
func value(m Member) string {
	return strconv.Itoa(len(m.Sub)) + ":" + m.Sub + string(EncodeMember(m))
}

// refreshBatch bounds the members of one script run, which holds Redis while it runs.
const refreshBatch = 500

// Join adds m (Store).
func (s *Redis) Join(ctx context.Context, topic string, m Member) error {
	return s.Refresh(ctx, topic, []Member{m})
}

// Refresh prunes, then extends or adds back members (Store).
func (s *Redis) Refresh(ctx context.Context, topic string, members []Member) error {
	for first := true; first || len(members) > 0; first = false {
		n := min(len(members), refreshBatch)
		args := s.args(topic)
		for _, m := range members[:n] {
			args = append(args, m.Client, value(m))
		}
		members = members[n:]
		if err := refreshScript.Run(ctx, s.client, s.keys(topic), args...).Err(); err != nil {
			return fmt.Errorf("redis presence %s: refresh: %w", topic, err)
		}
	}
	return nil
}

// Leave removes client (Store).
func (s *Redis) Leave(ctx context.Context, topic, client string) error {
	if err := leaveScript.Run(ctx, s.client, s.keys(topic), s.args(topic, client)...).Err(); err != nil {
		return fmt.Errorf("redis presence %s: leave: %w", topic, err)
	}
	return nil
}

// Page returns a page of members (Store).
func (s *Redis) Page(ctx context.Context, topic, after string, limit int) ([]Member, string, error) {
	if err := checkCursor(after); err != nil {
		return nil, "", err
	}
	limit = max(limit, 1)
	vals, err := pageScript.Run(ctx, s.client, s.keys(topic), s.args(topic, after, limit)...).Slice()
	if err != nil {
		return nil, "", fmt.Errorf("redis presence %s: page: %w", topic, err)
	}
	next := ""
	if len(vals) > limit {
		vals = vals[:limit]
		next = "x" // set below from the last member
	}
	out := make([]Member, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // removed between the range and the read: cannot happen in a script
		}
		m, err := decodeValue(str)
		if err != nil {
			return nil, "", fmt.Errorf("redis presence %s: page: %w", topic, err)
		}
		out = append(out, m)
	}
	if next != "" && len(out) > 0 {
		next = out[len(out)-1].Client
	}
	return out, next, nil
}

func decodeValue(v string) (Member, error) {
	var m Member
	colon := -1
	for i := 0; i < len(v) && i < 12; i++ {
		if v[i] == ':' {
			colon = i
			break
		}
	}
	n, err := strconv.Atoi(v[:max(colon, 0)])
	if colon < 0 || err != nil || colon+1+n > len(v) {
		return m, errors.New("a member's value is malformed")
	}
	err = json.Unmarshal([]byte(v[colon+1+n:]), &m)
	return m, err
}

// Stats counts members and subjects (Store).
func (s *Redis) Stats(ctx context.Context, topic string) (int, int, error) {
	n, err := statsScript.Run(ctx, s.client, s.keys(topic), s.args(topic)...).Int64Slice()
	if err != nil || len(n) != 2 {
		return 0, 0, fmt.Errorf("redis presence %s: stats: %w", topic, err)
	}
	return int(n[0]), int(n[1]), nil
}

// Listen subscribes to the cluster's presence channel (Store). Events published while the
// subscription reconnects are lost.
func (s *Redis) Listen(ctx context.Context, l Listener) error {
	sub := s.client.Subscribe(ctx, s.channel)
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		return fmt.Errorf("redis presence: subscribe: %w", err)
	}
	ch := sub.Channel()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-ch:
				if !ok {
					return
				}
				ev, err := decodeEvent([]byte(msg.Payload))
				if err != nil {
					s.logger.Warn("presence: an event is malformed", "error", err)
					continue
				}
				l(ev)
			}
		}
	}()
	return nil
}

// Keys are the Redis keys of topic's presence: the pages, the expiries, the data, the
// subjects (for the benchmarks and operators).
func (s *Redis) Keys(topic string) []string { return s.keys(topic) }
