package cluster

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/internal/testredis"
	"github.com/edgefn/edgefn/runtime"
)

// testCluster is a cluster name of this run alone: concurrent runs never see its nodes.
func testCluster(t *testing.T) string {
	return "test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + id.New()[:8]
}

func newTestRegistry(t *testing.T, store Store, cluster, nodeID string, mod func(*Config)) *Registry {
	t.Helper()
	cfg := Config{
		Cluster: cluster, Store: store, Interval: 50 * time.Millisecond, Timeout: 500 * time.Millisecond,
		Self: Node{ID: nodeID, Address: "127.0.0.1:1", AdminAddress: "127.0.0.1:2", Version: "test"},
		Functions: func() []runtime.Info {
			return []runtime.Info{{Name: "zeta", Version: 1, State: "ready", Ready: 1}, {Name: "alpha", Version: 4, State: "starting"}}
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func redisStore(t *testing.T, cluster string) *RedisStore {
	t.Helper()
	s, err := NewRedisStore(testredis.Client(t, "cluster-test"), cluster)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// states returns id → state of the list r makes.
func states(t *testing.T, r *Registry) map[string]State {
	t.Helper()
	l, err := r.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]State{}
	for _, n := range l.Nodes {
		out[n.ID] = n.State
	}
	return out
}

func TestNodesAlone(t *testing.T) {
	r := newTestRegistry(t, nil, "", "solo", nil)
	r.Start()
	l, err := r.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l.Cluster != DefaultCluster || len(l.Nodes) != 1 || l.Nodes[0].ID != "solo" || l.Nodes[0].State != Live {
		t.Fatalf("alone: %+v", l)
	}
	if fns := l.Nodes[0].Functions; len(fns) != 2 || fns[0].Name != "alpha" || fns[1].Name != "zeta" || !fns[1].Ready || fns[0].Ready {
		t.Errorf("functions %+v, want alpha (not ready) then zeta (ready)", fns)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestNodesShared(t *testing.T) {
	cluster := testCluster(t)
	a := newTestRegistry(t, redisStore(t, cluster), cluster, "node-a", nil)
	b := newTestRegistry(t, redisStore(t, cluster), cluster, "node-b", nil)
	other := newTestRegistry(t, redisStore(t, cluster+"-other"), cluster+"-other", "node-c", nil)
	a.Start()
	b.Start()
	other.Start()
	testkit.Eventually(t, 5*time.Second, "a and b live on both", func() bool {
		sa, sb := states(t, a), states(t, b)
		return len(sa) == 2 && sa["node-b"] == Live && len(sb) == 2 && sb["node-a"] == Live
	})
	l, err := a.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if n.Address != "127.0.0.1:1" || n.Version != "test" || len(n.Functions) != 2 || n.LastSeen.After(l.ListedAt) {
			t.Errorf("record %+v (listed at %v)", n, l.ListedAt)
		}
	}
	// A clean stop is gone at once, and listed after the live nodes.
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err = a.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Nodes) != 2 || l.Nodes[0].ID != "node-a" || l.Nodes[0].State != Live || l.Nodes[1].State != Gone || l.Nodes[1].Stopped.IsZero() {
		t.Errorf("after b stopped: %+v", l.Nodes)
	}
}

func TestNodeGoneAfterTimeout(t *testing.T) {
	cluster := testCluster(t)
	a := newTestRegistry(t, redisStore(t, cluster), cluster, "node-a", nil)
	// b beats once and then dies: no clean stop.
	store := redisStore(t, cluster)
	b := newTestRegistry(t, store, cluster, "node-b", nil)
	if err := store.Beat(context.Background(), b.self(), time.Minute); err != nil {
		t.Fatal(err)
	}
	a.Start()
	testkit.Eventually(t, 5*time.Second, "b live", func() bool { return states(t, a)["node-b"] == Live })
	testkit.Eventually(t, 5*time.Second, "b gone after the timeout", func() bool { return states(t, a)["node-b"] == Gone })
}

func TestRecordThatDoesNotDecode(t *testing.T) {
	cluster := testCluster(t)
	store := redisStore(t, cluster)
	a := newTestRegistry(t, store, cluster, "node-a", nil)
	client := testredis.Client(t, "cluster-test")
	ctx := context.Background()
	if err := client.Set(ctx, RedisPrefix(cluster)+"node:bad", "{", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.ZAdd(ctx, RedisPrefix(cluster)+"nodes", goredis.Z{Score: float64(time.Now().UnixMilli()), Member: "bad"}).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Del(context.Background(), RedisPrefix(cluster)+"node:bad", RedisPrefix(cluster)+"nodes")
	})
	a.Start()
	l, err := a.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var bad *Node
	for i := range l.Nodes {
		if l.Nodes[i].ID == "bad" {
			bad = &l.Nodes[i]
		}
	}
	if bad == nil || !strings.Contains(bad.Error, "record does not decode") || len(l.Nodes) != 2 {
		t.Errorf("a record that does not decode is listed with its error: %+v", l.Nodes)
	}
}

// switchStore sends every call to the store away or, once back is set, to the real one, and
// counts the beats.
type switchStore struct {
	away, real Store
	back       atomic.Bool
	beats      atomic.Int64
}

func (s *switchStore) pick() Store {
	if s.back.Load() {
		return s.real
	}
	return s.away
}

func (s *switchStore) Beat(ctx context.Context, n Node, ttl time.Duration) error {
	s.beats.Add(1)
	return s.pick().Beat(ctx, n, ttl)
}

func (s *switchStore) Records(ctx context.Context, max int) (time.Time, []Node, error) {
	return s.pick().Records(ctx, max)
}

// TestStoreAway: with Redis away the heartbeat logs once, the list says why it failed, beats
// resume (logged) when Redis is back, and Close returns within its bound when it is away.
func TestStoreAway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	client := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	cluster := testCluster(t)
	away, err := NewRedisStore(client, cluster)
	if err != nil {
		t.Fatal(err)
	}
	store := &switchStore{away: away, real: redisStore(t, cluster)}
	var logs testkit.SyncBuffer
	r := newTestRegistry(t, store, cluster, "node-a", func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	r.Start()
	testkit.Eventually(t, 5*time.Second, "five failed beats", func() bool { return store.beats.Load() >= 5 })
	if n := strings.Count(logs.String(), "heartbeat failed"); n != 1 {
		t.Errorf("%d failure lines, want 1:\n%s", n, logs.String())
	}
	if _, err := r.Nodes(context.Background()); err == nil || !strings.Contains(err.Error(), "node registry: redis") {
		t.Errorf("Nodes with the store away: %v", err)
	}
	store.back.Store(true)
	testkit.Eventually(t, 5*time.Second, "beats back", func() bool {
		l, err := r.Nodes(context.Background())
		return err == nil && len(l.Nodes) == 1 && l.Nodes[0].State == Live && strings.Contains(logs.String(), "heartbeat back")
	})
	store.back.Store(false)
	start := time.Now()
	if err := r.Close(context.Background()); err == nil {
		t.Error("Close with the store away: no error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v, want at most the 2s bound", d)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := New(Config{Cluster: "a:b", Self: Node{ID: ""}, Interval: time.Minute})
	for _, want := range []string{"node id empty", `cluster name "a:b" has ":"`, "want interval (1m0s) < timeout (10s)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}
