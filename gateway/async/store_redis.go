package async

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts the name of every key of a RedisStore by default.
const DefaultRedisPrefix = "edgefn:async:"

// Fields of a record's hash. A reply header is the field headerField + its name, so that
// headers, like the body, are kept byte for byte.
const (
	fieldID        = "id"
	fieldFunction  = "function"
	fieldOwner     = "owner"
	fieldOwnerIP   = "owner_ip"
	fieldState     = "state"
	fieldStatus    = "status"
	fieldBody      = "body"
	fieldCreated   = "created"
	fieldCompleted = "completed"
	headerField    = "h:"
)

// createScript stores a pending request unless its idempotency key is taken, and notes it in
// the pending set, which it trims of expired entries so that the set stays bounded even when
// nobody asks for Pending. Scores are expiry times on Redis' clock, the clock that expires
// the records, so nodes whose clocks disagree agree on what is pending.
//
// An idempotency key is a hash of the ID it points to and the call it is bound to (id,
// function, method, path, body: the body's SHA-256), written once: the caller compares the
// call it gets back with its own.
//
// KEYS: record hash, pending set, idempotency key (absent without a key).
// ARGV: id, ttl (ms), function, owner, created, owner IP, then the key's call: function,
// method, path, body.
// Returns {1, id} when stored, {0, earlier id, function, method, path, body} when the key
// was taken, {-1, id} when the id is.
var createScript = goredis.NewScript(`
if KEYS[3] then
  local earlier = redis.call('HMGET', KEYS[3], 'id', 'function', 'method', 'path', 'body')
  if earlier[1] then return {0, earlier[1], earlier[2], earlier[3], earlier[4], earlier[5]} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1, ARGV[1]} end
local ttl = tonumber(ARGV[2])
if KEYS[3] then
  redis.call('HSET', KEYS[3], 'id', ARGV[1], 'function', ARGV[7], 'method', ARGV[8], 'path', ARGV[9], 'body', ARGV[10])
  redis.call('PEXPIRE', KEYS[3], ttl)
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'function', ARGV[3], 'owner', ARGV[4], 'state', 'pending', 'created', ARGV[5], 'owner_ip', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ttl)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return {1, ARGV[1]}
`)

// completeScript stores the reply of a pending request and keeps it for the TTL.
//
// KEYS: record hash, pending set.
// ARGV: id, ttl (ms), status, completed, body, then header field and value pairs.
// Returns 1 when stored, 0 when the record is missing, -1 when it has its reply.
var completeScript = goredis.NewScript(`
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
if state == 'done' then return -1 end
local fields = {'state', 'done', 'status', ARGV[3], 'completed', ARGV[4], 'body', ARGV[5]}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// pendingScript drops the expired entries of the pending set and counts the rest.
//
// KEYS: pending set.
var pendingScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`)

// RedisStore is the Store shared by every node, in Redis: a request is a hash at
// <prefix>req:<id>, an idempotency key a hash at <prefix>idem:<sha256 of scope and key>
// holding the ID and the call the key is bound to, and <prefix>pending a sorted set of pending IDs by expiry time. Every key
// has a TTL. Writes are Lua scripts, so each is atomic.
type RedisStore struct {
	client  *goredis.Client
	prefix  string
	pending string
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store using client, which the caller keeps and closes, with keys
// starting with prefix ("" for DefaultRedisPrefix).
func NewRedisStore(client *goredis.Client, prefix string) *RedisStore {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &RedisStore{client: client, prefix: prefix, pending: prefix + "pending"}
}

// Create stores the request of rec (its ID, Function, Owner, OwnerIP and Created, which
// defaults to now) as pending; the reply fields are set by Complete. An ID that is stored
// already is an error: IDs are random, so it is a bug.
func (s *RedisStore) Create(ctx context.Context, rec *Record, key Key, ttl time.Duration) (string, bool, error) {
	if err := checkCreate(rec, ttl); err != nil {
		return "", false, fmt.Errorf("async store: create: %w", err)
	}
	created := rec.Created
	if created.IsZero() {
		created = time.Now()
	}
	keys := []string{s.recordKey(rec.ID), s.pending}
	if key.Value != "" {
		keys = append(keys, s.idemKey(key.Scope, key.Value))
	}
	res, err := createScript.Run(ctx, s.client, keys,
		rec.ID, millis(ttl), rec.Function, rec.Owner, created.UTC().Format(time.RFC3339Nano), rec.OwnerIP,
		key.Call.Function, key.Call.Method, key.Call.Path, key.Call.BodySHA256).Slice()
	if err != nil {
		return "", false, fmt.Errorf("async store: create %s: %w", rec.ID, err)
	}
	if len(res) < 2 {
		return "", false, fmt.Errorf("async store: create %s: script reply %v", rec.ID, res)
	}
	code, _ := res[0].(int64)
	id, _ := res[1].(string)
	switch {
	case code == -1:
		return "", false, fmt.Errorf("async store: create %s: the id is taken", rec.ID)
	case id == "":
		return "", false, fmt.Errorf("async store: create %s: script reply %v", rec.ID, res)
	case code == 1:
		return id, true, nil
	case len(res) != 6:
		return "", false, fmt.Errorf("async store: create %s: script reply %v", rec.ID, res)
	}
	var first Call
	first.Function, _ = res[2].(string)
	first.Method, _ = res[3].(string)
	first.Path, _ = res[4].(string)
	first.BodySHA256, _ = res[5].(string)
	if first != key.Call {
		return "", false, fmt.Errorf("async store: create %s: %w", rec.ID, &KeyReusedError{First: first, Again: key.Call})
	}
	return id, false, nil
}

// Get returns the record of id.
func (s *RedisStore) Get(ctx context.Context, id string) (*Record, error) {
	fields, err := s.client.HGetAll(ctx, s.recordKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("async store: get %s: %w", id, err)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("async store: get %s: %w", id, ErrNotFound)
	}
	rec, err := parseRecord(fields)
	if err != nil {
		return nil, fmt.Errorf("async store: get %s: %w", id, err)
	}
	return rec, nil
}

// Complete stores the reply of id.
func (s *RedisStore) Complete(ctx context.Context, id string, status int, headers map[string]string, body []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("async store: complete %s: ttl %v is not positive", id, ttl)
	}
	args := make([]any, 0, 5+2*len(headers))
	args = append(args, id, millis(ttl), status, time.Now().UTC().Format(time.RFC3339Nano), body)
	for name, value := range headers {
		args = append(args, headerField+name, value)
	}
	code, err := completeScript.Run(ctx, s.client, []string{s.recordKey(id), s.pending}, args...).Int64()
	switch {
	case err != nil:
		return fmt.Errorf("async store: complete %s: %w", id, err)
	case code == 0:
		return fmt.Errorf("async store: complete %s: %w", id, ErrNotFound)
	case code == -1:
		return fmt.Errorf("async store: complete %s: %w", id, ErrAlreadyDone)
	}
	return nil
}

// Pending counts the pending requests of every node. A request whose record was deleted by
// hand is counted until its TTL passes.
func (s *RedisStore) Pending(ctx context.Context) (int64, error) {
	n, err := pendingScript.Run(ctx, s.client, []string{s.pending}).Int64()
	if err != nil {
		return 0, fmt.Errorf("async store: pending: %w", err)
	}
	return n, nil
}

func (s *RedisStore) recordKey(id string) string { return s.prefix + "req:" + id }

// idemKey names an idempotency key in its scope: a hash, so that a long or hostile key
// cannot bloat key names, of the scope's length, the scope and the key, so that no two pairs
// collide.
func (s *RedisStore) idemKey(scope, key string) string {
	h := sha256.New()
	_ = binary.Write(h, binary.BigEndian, uint64(len(scope)))
	h.Write([]byte(scope))
	h.Write([]byte(key))
	return s.prefix + "idem:" + hex.EncodeToString(h.Sum(nil))
}

// parseRecord reads a record's hash.
func parseRecord(fields map[string]string) (*Record, error) {
	rec := &Record{
		ID:       fields[fieldID],
		Function: fields[fieldFunction],
		Owner:    fields[fieldOwner],
		OwnerIP:  fields[fieldOwnerIP],
		State:    State(fields[fieldState]),
	}
	if rec.State != Pending && rec.State != Done {
		return nil, fmt.Errorf("record in state %q", rec.State)
	}
	var err error
	if rec.Created, err = time.Parse(time.RFC3339Nano, fields[fieldCreated]); err != nil {
		return nil, fmt.Errorf("created: %w", err)
	}
	if rec.State == Pending {
		return rec, nil
	}
	if rec.Status, err = strconv.Atoi(fields[fieldStatus]); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	if rec.Completed, err = time.Parse(time.RFC3339Nano, fields[fieldCompleted]); err != nil {
		return nil, fmt.Errorf("completed: %w", err)
	}
	if b := fields[fieldBody]; b != "" {
		rec.Body = []byte(b)
	}
	for f, v := range fields {
		if name, ok := strings.CutPrefix(f, headerField); ok {
			if rec.Headers == nil {
				rec.Headers = map[string]string{}
			}
			rec.Headers[name] = v
		}
	}
	return rec, nil
}

// millis is ttl in whole milliseconds, at least one: what PX and PEXPIRE take.
func millis(ttl time.Duration) int64 {
	return max(ttl.Milliseconds(), 1)
}
