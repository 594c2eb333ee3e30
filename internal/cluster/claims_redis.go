package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisClaims are keys that one node of the cluster holds at a time, under the cluster's
// prefix: PREFIX schedule:FUNCTION:INDEX:UNIX claims an instant of a schedule trigger, and
// PREFIX schedule:FUNCTION:INDEX:running its run in progress (docs/cluster.md). Each is one
// SET NX PX, so exactly one node takes it, and it expires.
type RedisClaims struct {
	client *goredis.Client
	prefix string
}

// NewRedisClaims keeps the claims of the cluster named cluster in Redis through client,
// which the caller owns and closes.
func NewRedisClaims(client *goredis.Client, cluster string) (*RedisClaims, error) {
	if err := ValidName(cluster); err != nil {
		return nil, fmt.Errorf("cluster name %w", err)
	}
	return &RedisClaims{client: client, prefix: RedisPrefix(cluster)}, nil
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
