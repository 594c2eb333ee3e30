package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testredis"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/redis"
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

var _ dispatch.ScheduleStore = (*RedisClaims)(nil)

// TestScheduleStore: the Redis store and the memory one agree: an instant fires once; a
// pause, seen by every node, fires nothing but moves the last instant on; the last instant
// never goes back; a resume fires again.
func TestScheduleStore(t *testing.T) {
	client := testredis.Client(t, "claims-test")
	cluster := testCluster(t)
	redisStore, err := NewRedisClaims(client, cluster)
	if err != nil {
		t.Fatal(err)
	}
	otherNode, _ := NewRedisClaims(client, cluster)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := client.Keys(ctx, RedisPrefix(cluster)+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	for _, c := range []struct {
		name  string
		a, b  dispatch.ScheduleStore
		redis bool
	}{{"memory", dispatch.NewMemoryClaims(), nil, false}, {"redis", redisStore, otherNode, true}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b := c.b
			if b == nil {
				b = c.a
			}
			at := time.Unix(1_800_000_000, 0)
			fire := func(s dispatch.ScheduleStore, at time.Time, owner string) dispatch.Fired {
				t.Helper()
				f, err := s.Fire(ctx, owner, time.Minute, dispatch.Tick{Function: "f", Index: 1, At: at})
				if err != nil || len(f) != 1 {
					t.Fatal(f, err)
				}
				return f[0]
			}
			last := func() time.Time {
				t.Helper()
				l, err := b.Last(ctx, "f", 1)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			if l := last(); !l.IsZero() {
				t.Fatalf("last %v before any fire", l)
			}
			if fire(c.a, at, "a") != dispatch.FiredTaken || fire(b, at, "b") != dispatch.FiredElsewhere {
				t.Fatal("an instant fired twice, or not at all")
			}
			if !last().Equal(at) {
				t.Fatalf("last %v; want %v", last(), at)
			}
			if err := c.a.SetPaused(ctx, "f", true); err != nil {
				t.Fatal(err)
			}
			if p, err := b.Paused(ctx, "f"); err != nil || !p {
				t.Fatalf("paused %t (%v) on the other node", p, err)
			}
			if p, _ := b.Paused(ctx, "g"); p {
				t.Fatal("another function is paused")
			}
			if fire(b, at.Add(time.Second), "b") != dispatch.FiredPaused || !last().Equal(at.Add(time.Second)) {
				t.Fatalf("a paused instant fired, or is not the last (%v)", last())
			}
			if fire(c.a, at.Add(-time.Second), "a") != dispatch.FiredPaused || !last().Equal(at.Add(time.Second)) {
				t.Fatalf("an older instant moved the last back to %v", last())
			}
			if err := b.SetPaused(ctx, "f", false); err != nil {
				t.Fatal(err)
			}
			if fire(c.a, at.Add(2*time.Second), "a") != dispatch.FiredTaken || !last().Equal(at.Add(2*time.Second)) {
				t.Fatal("a resumed instant did not fire")
			}
			// A batch: each tick alone; the run lock makes the second instant of g busy until
			// the first's run releases it.
			lock := func(at time.Time, i int) dispatch.Tick {
				return dispatch.Tick{Function: "g", Index: i, At: at, LockTTL: time.Minute}
			}
			other := dispatch.Tick{Function: "f", Index: 1, At: at.Add(3 * time.Second)} // another function between
			fs, err := c.a.Fire(ctx, "a", time.Minute, lock(at, 0), other, lock(at.Add(time.Second), 0), lock(at, 1), lock(at, 1))
			want := []dispatch.Fired{dispatch.FiredTaken, dispatch.FiredTaken, dispatch.FiredBusy, dispatch.FiredTaken, dispatch.FiredElsewhere}
			if err != nil || !slices.Equal(fs, want) {
				t.Fatalf("batch fired %v (%v); want %v", fs, err, want)
			}
			if err := b.Release(ctx, dispatch.RunLockKey("g", 0), dispatch.RunLockOwner(at)); err != nil {
				t.Fatal(err)
			}
			if fs, err := b.Fire(ctx, "b", time.Minute, lock(at.Add(2*time.Second), 0)); err != nil || fs[0] != dispatch.FiredTaken {
				t.Fatalf("after the release: %v (%v)", fs, err)
			}
			if c.redis {
				key := RedisPrefix(cluster) + "schedule:f:1:1800000002"
				if owner := client.Get(ctx, key).Val(); owner != "a/1800000002" || client.PTTL(ctx, key).Val() <= 0 {
					t.Errorf("claim %s owned by %q, ttl %v", key, owner, client.PTTL(ctx, key).Val())
				}
				if v := client.Get(ctx, RedisPrefix(cluster)+"schedule:f:1:last").Val(); v != "1800000003" {
					t.Errorf("last key %q", v)
				}
			}
		})
	}
}

// TestFireAppendsRuns: with AppendRuns, the script that takes an instant appends its run to
// the run stream, in the run streams' own encoding (a consumer of them reads it back), and
// appends nothing for an instant claimed elsewhere, paused or busy; ticks without a run
// append nothing.
func TestFireAppendsRuns(t *testing.T) {
	client := testredis.Client(t, "claims-test")
	cluster := testCluster(t)
	streams, err := redis.New(client, redis.Options{MaxLen: 1000})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewRedisClaims(client, cluster)
	b, _ := NewRedisClaims(client, cluster)
	a.AppendRuns(streams)
	b.AppendRuns(streams)
	ctx := context.Background()
	t.Cleanup(func() {
		keys, _ := client.Keys(context.Background(), RedisPrefix(cluster)+"*").Result()
		if len(keys) > 0 {
			client.Del(context.Background(), keys...)
		}
	})
	if other, _ := redis.New(client, redis.Options{}); !a.AppendsRuns(streams) || a.AppendsRuns(other) {
		t.Fatal("AppendsRuns does not tell its run streams from others")
	}
	runs, _ := dispatch.ScheduleStreams(RedisPrefix(cluster), "f")
	at := time.Unix(1_800_000_000, 0).UTC()
	tick := func(i int, at time.Time, data string) dispatch.Tick {
		ev := dispatch.ScheduleEvent("f", i, at, []byte(data))
		return dispatch.Tick{Function: "f", Index: i, At: at, LockTTL: time.Minute, Stream: runs,
			Run: &triggers.Message{ID: ev.ID, Type: ev.Type, Source: ev.Source, Time: ev.Time, ContentType: ev.ContentType, Data: ev.Data}}
	}
	fs, err := a.Fire(ctx, "a", time.Minute, tick(0, at, `{"n":0}`), tick(1, at, ""),
		dispatch.Tick{Function: "f", Index: 2, At: at}) // no run: nothing appended
	if want := []dispatch.Fired{dispatch.FiredTaken, dispatch.FiredTaken, dispatch.FiredTaken}; err != nil || !slices.Equal(fs, want) {
		t.Fatalf("fired %v (%v); want %v", fs, err, want)
	}
	// Claimed already, busy (index 0's run holds its lock) and paused: no run.
	fs, err = b.Fire(ctx, "b", time.Minute, tick(1, at, ""), tick(0, at.Add(time.Second), ""))
	if want := []dispatch.Fired{dispatch.FiredElsewhere, dispatch.FiredBusy}; err != nil || !slices.Equal(fs, want) {
		t.Fatalf("fired %v (%v); want %v", fs, err, want)
	}
	if err := a.SetPaused(ctx, "f", true); err != nil {
		t.Fatal(err)
	}
	if fs, err := b.Fire(ctx, "b", time.Minute, tick(3, at, "")); err != nil || fs[0] != dispatch.FiredPaused {
		t.Fatalf("paused: fired %v (%v)", fs, err)
	}
	src, err := streams.ConsumeStream(ctx, triggers.StreamOptions{Stream: runs, Group: "g", Consumer: "c", FromOldest: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ds, err := src.Receive(rctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.ID+" "+string(d.Data)+" "+d.ContentType+" "+d.Time.Format(time.RFC3339))
		if d.Type != dispatch.ScheduleEventType || d.Source != "schedule/f" {
			t.Errorf("run %s: type %q, source %q", d.ID, d.Type, d.Source)
		}
	}
	want := []string{"schedule/f/0/1800000000 {\"n\":0} application/json " + at.Format(time.RFC3339),
		"schedule/f/1/1800000000   " + at.Format(time.RFC3339)}
	if !slices.Equal(got, want) {
		t.Fatalf("the run stream holds %q; want %q", got, want)
	}
	if n := client.XLen(ctx, runs).Val(); n != 2 {
		t.Fatalf("the run stream holds %d entries; want 2", n)
	}
	// A tick with a run, for claims that append none, is refused.
	plain, _ := NewRedisClaims(client, cluster)
	if _, err := plain.Fire(ctx, "c", time.Minute, tick(4, at, "")); err == nil {
		t.Fatal("claims without run streams took a tick's run")
	}
}

// TestReleaseAll: one script gives up each key its owner still holds, and leaves a key
// another owner holds.
func TestReleaseAll(t *testing.T) {
	client := testredis.Client(t, "claims-test")
	cluster := testCluster(t)
	c, _ := NewRedisClaims(client, cluster)
	ctx := context.Background()
	t.Cleanup(func() { client.Del(context.Background(), RedisPrefix(cluster)+"k1", RedisPrefix(cluster)+"k2") })
	for _, k := range []string{"k1", "k2"} {
		if ok, err := c.Claim(ctx, k, "a", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if err := c.ReleaseAll(ctx, []string{"k1", "k2"}, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if n := client.Exists(ctx, RedisPrefix(cluster)+"k1").Val(); n != 0 {
		t.Error("k1 is still held by its owner after ReleaseAll")
	}
	if owner := client.Get(ctx, RedisPrefix(cluster)+"k2").Val(); owner != "a" {
		t.Errorf("k2, held by a, released for b: owner %q", owner)
	}
	if err := c.ReleaseAll(ctx, []string{"k1"}, nil); err == nil {
		t.Error("keys without owners were accepted")
	}
}
