package redis

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/triggers"
)

// publishScript numbers a publication, appends it to the topic's history and fans it out,
// in one step: since PUBLISH runs inside the script, every node hears a topic's
// publications in offset order.
//
// KEYS: meta hash, history stream.
// ARGV: epoch to start when the topic has none, data, history size, history TTL (ms),
// meta TTL (ms), fan-out channel, topic.
// Returns {epoch, offset}.
var publishScript = goredis.NewScript(`
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch)
  redis.call('DEL', KEYS[2])
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local now = redis.call('TIME')
local ms = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '*', 'o', offset, 't', ms, 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[6], epoch .. ' ' .. offset .. ' ' .. #ARGV[7] .. ' ' .. ARGV[7] .. ARGV[2])
return {epoch, offset}
`)

// historyScript returns a topic's position, starting an epoch when it has none, and the
// history entries after since, newest first, when the history may hold them all. Redis'
// clock is the one that ages entries, so that nodes whose clocks disagree agree on what
// has expired.
//
// KEYS: meta hash, history stream.
// ARGV: epoch to start when the topic has none, meta TTL (ms), since epoch, since offset
// ("" for none), history size.
// Returns {epoch, offset, now (ms), entries}.
var historyScript = goredis.NewScript(`
local meta = redis.call('HMGET', KEYS[1], 'e', 'o')
local epoch, offset = meta[1], tonumber(meta[2]) or 0
if not epoch then
  epoch, offset = ARGV[1], 0
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local now = redis.call('TIME')
local ms = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
local entries = {}
local since = tonumber(ARGV[4])
if since and ARGV[3] == epoch and since < offset and offset - since <= tonumber(ARGV[5]) then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', offset - since)
end
return {epoch, offset, ms, entries}
`)

// parsePosition reads the {epoch, offset} that begins both scripts' replies.
func parsePosition(res []any) (triggers.Position, error) {
	if len(res) < 2 {
		return triggers.Position{}, fmt.Errorf("script reply of %d elements", len(res))
	}
	epoch, ok := res[0].(string)
	offset, ok2 := res[1].(int64)
	if !ok || !ok2 || epoch == "" || offset < 0 {
		return triggers.Position{}, fmt.Errorf("script reply %v is not an epoch and an offset", res[:2])
	}
	return triggers.Position{Epoch: epoch, Offset: uint64(offset)}, nil
}

// historyEntry is one publication as the history stream holds it.
type historyEntry struct {
	offset uint64
	ms     int64 // publish time, Redis' clock
	data   string
}

// parseEntries reads XREVRANGE's reply: entries of field-value pairs o, t and d.
func parseEntries(v any) ([]historyEntry, error) {
	raw, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("history entries are %T", v)
	}
	out := make([]historyEntry, 0, len(raw))
	for _, r := range raw {
		e, ok := r.([]any)
		if !ok || len(e) != 2 {
			return nil, fmt.Errorf("history entry %v", r)
		}
		fields, ok := e[1].([]any)
		if !ok {
			return nil, fmt.Errorf("history entry %v has no fields", e[0])
		}
		var h historyEntry
		var err error
		for i := 0; i+1 < len(fields); i += 2 {
			name, _ := fields[i].(string)
			val, _ := fields[i+1].(string)
			switch name {
			case "o":
				h.offset, err = strconv.ParseUint(val, 10, 64)
			case "t":
				h.ms, err = strconv.ParseInt(val, 10, 64)
			case "d":
				h.data = val
			}
			if err != nil {
				return nil, fmt.Errorf("history entry %v: field %s: %w", e[0], name, err)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// errBadPayload marks a message on the fan-out channel that publishScript did not write.
var errBadPayload = errors.New("not a topic publication")

// decodePublication reads what publishScript publishes on the fan-out channel:
//
//	<epoch> SP <offset> SP <len(topic)> SP <topic><data>
func decodePublication(payload string) (*triggers.Publication, error) {
	epoch, rest, ok1 := strings.Cut(payload, " ")
	off, rest, ok2 := strings.Cut(rest, " ")
	n, rest, ok3 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !ok3 || epoch == "" {
		return nil, errBadPayload
	}
	offset, err := strconv.ParseUint(off, 10, 64)
	if err != nil {
		return nil, errBadPayload
	}
	topicLen, err := strconv.Atoi(n)
	if err != nil || topicLen <= 0 || topicLen > len(rest) {
		return nil, errBadPayload
	}
	return &triggers.Publication{
		Topic:    rest[:topicLen],
		Position: triggers.Position{Epoch: epoch, Offset: offset},
		Data:     []byte(rest[topicLen:]),
	}, nil
}
