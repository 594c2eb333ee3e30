package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testredis"
	"github.com/edgefn/edgefn/runtime/dispatch"
)

// The guard lives in a test: the cluster package does not need to import dispatch.
var _ dispatch.Claims = (*RedisClaims)(nil)

// TestScheduleClaimsRedis: one owner takes a key; others cannot until it is released by
// that owner or expires; the key lives under the cluster's prefix.
func TestScheduleClaimsRedis(t *testing.T) {
	client := testredis.Client(t, "claims-test")
	ctx := context.Background()
	cluster := testCluster(t)
	c, err := NewRedisClaims(client, cluster)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewRedisClaims(client, cluster+"-other")
	claim := func(c *RedisClaims, key, owner string, ttl time.Duration) bool {
		t.Helper()
		ok, err := c.Claim(ctx, key, owner, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(c, "schedule:f:0:60", "a", time.Minute) {
		t.Fatal("the first claim failed")
	}
	if claim(c, "schedule:f:0:60", "b", time.Minute) {
		t.Fatal("a second owner took a held key")
	}
	if !claim(other, "schedule:f:0:60", "b", time.Minute) {
		t.Fatal("another cluster's key was taken by this one's claim")
	}
	if ttl := client.PTTL(ctx, RedisPrefix(cluster)+"schedule:f:0:60").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the claim's ttl is %v; want up to a minute", ttl)
	}
	if err := c.Release(ctx, "schedule:f:0:60", "b"); err != nil || claim(c, "schedule:f:0:60", "b", time.Minute) {
		t.Fatalf("a release by another owner freed the key (err %v)", err)
	}
	if err := c.Release(ctx, "schedule:f:0:60", "a"); err != nil || !claim(c, "schedule:f:0:60", "b", time.Minute) {
		t.Fatalf("the owner's release did not free the key (err %v)", err)
	}
	if _, err := NewRedisClaims(client, "bad name"); err == nil {
		t.Fatal("a bad cluster name was accepted")
	}
	t.Cleanup(func() {
		client.Del(context.Background(), RedisPrefix(cluster)+"schedule:f:0:60", RedisPrefix(cluster+"-other")+"schedule:f:0:60")
	})
}
