package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testredis"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// rulesYAML is a topics document whose one rule matches match.
func rulesYAML(match string) string {
	return "kind: topics\nrules:\n  - match: " + match + "\n    subscribe: \"true\"\n"
}

// rulesStores are the RulesStore backends, each fresh for the test: the same behaviours run
// against both.
func rulesStores(t *testing.T) map[string]RulesStore {
	t.Helper()
	client := testredis.Client(t, "rules-test")
	name := testCluster(t)
	rs, err := NewRedisRules(client, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := client.Keys(ctx, RedisPrefix(name)+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	return map[string]RulesStore{"file": NewFileRules(t.TempDir() + "/topics"), "redis": rs}
}

func TestRulesStore(t *testing.T) {
	for name, s := range rulesStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if st, err := s.State(ctx); err != nil || st.Current != 0 {
				t.Fatalf("empty store: %+v %v", st, err)
			}
			commit := func(match string, ifVersion int) (int, error) {
				return s.Commit(ctx, RulesEntry{Files: []RulesFile{{File: "r.yaml", Source: rulesYAML(match)}}, DeployedBy: "t"}, ifVersion, 2)
			}
			if n, err := commit("a.*", runtime.NotDeployed); err != nil || n != 1 {
				t.Fatalf("first commit: %d %v", n, err)
			}
			var ce *ConflictError
			if _, err := commit("b.*", runtime.NotDeployed); !errors.As(err, &ce) || ce.Current != 1 {
				t.Fatalf("commit if none deployed, over v1: %v", err)
			}
			if _, err := commit("b.*", 5); !errors.As(err, &ce) || ce.Current != 1 {
				t.Fatalf("commit if v5, over v1: %v", err)
			}
			// Numbers only grow; a refused commit may have used one up.
			var vs []int
			last := 1
			for _, match := range []string{"b.*", "c.*"} {
				n, err := commit(match, 0)
				if err != nil || n <= last {
					t.Fatalf("commit %s: %d %v (after %d)", match, n, err, last)
				}
				vs, last = append(vs, n), n
			}
			// keep 2: v1 is gone, the other two kept, the last current.
			st, err := s.State(ctx)
			if err != nil || st.Current != vs[1] || len(st.Versions) != 2 || st.Versions[0] != vs[0] || st.Versions[1] != vs[1] {
				t.Fatalf("state after three commits (%v), keep 2: %+v %v", vs, st, err)
			}
			e, err := s.Entry(ctx, vs[1])
			if err != nil || e.Version != vs[1] || e.DeployedBy != "t" || !strings.Contains(e.Files[0].Source, "c.*") {
				t.Fatalf("entry %d: %+v %v", vs[1], e, err)
			}
			if _, err := s.Entry(ctx, 1); !errors.Is(err, ErrGone) {
				t.Fatalf("entry 1 after it was dropped: %v", err)
			}
			if err := s.SetCurrent(ctx, vs[0], vs[0]); !errors.As(err, &ce) || ce.Current != vs[1] {
				t.Fatalf("set current expecting a stale version: %v", err)
			}
			if err := s.SetCurrent(ctx, 1, vs[1]); !errors.Is(err, ErrGone) {
				t.Fatalf("set current to a dropped version: %v", err)
			}
			if err := s.SetCurrent(ctx, vs[0], vs[1]); err != nil {
				t.Fatal(err)
			}
			// A commit after a rollback takes a number never given out.
			if n, err := commit("d.*", vs[0]); err != nil || n <= vs[1] {
				t.Fatalf("commit after the rollback: %d %v", n, err)
			}
		})
	}
}

// hubRules records the rules a Rules hands to the hub.
type hubRules struct {
	mu    sync.Mutex
	rules []*manifest.TopicRule
}

func (h *hubRules) set(r []*manifest.TopicRule) { h.mu.Lock(); h.rules = r; h.mu.Unlock() }
func (h *hubRules) match() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var m []string
	for _, r := range h.rules {
		m = append(m, r.Match)
	}
	return strings.Join(m, ",")
}

func newTestRules(t *testing.T, s RulesStore, hub *hubRules) *Rules {
	t.Helper()
	r, err := NewRules(RulesConfig{Store: s, Apply: hub.set, NodeID: "n", Resync: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// TestRulesDeployRollback: a deploy validates with file:line, applies at once and is
// versioned; the same files change nothing; a rollback applies the previous version.
func TestRulesDeployRollback(t *testing.T) {
	for name, s := range rulesStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var hub hubRules
			r := newTestRules(t, s, &hub)
			_, err := r.Deploy(ctx, []RulesFile{{File: "bad.yaml", Source: "kind: topics\nrules:\n  - match: a..b\n"}}, runtime.ChangeOptions{})
			var list manifest.ErrorList
			if !errors.As(err, &list) || !strings.Contains(err.Error(), "bad.yaml:3") {
				t.Fatalf("invalid rules: %v", err)
			}
			if _, err := r.Deploy(ctx, []RulesFile{{File: "fn.yaml", Source: "name: x\nhandler: ./x\n"}}, runtime.ChangeOptions{}); !errors.Is(err, ErrNoRules) {
				t.Fatalf("a file without topics: %v", err)
			}
			files := func(m string) []RulesFile { return []RulesFile{{File: "r.yaml", Source: rulesYAML(m)}} }
			if res, err := r.Deploy(ctx, files("a.*"), runtime.ChangeOptions{}); err != nil || res.Version != 1 || res.Rules != 1 || hub.match() != "a.*" {
				t.Fatalf("deploy a: %+v %v, hub %q", res, err, hub.match())
			}
			if res, err := r.Deploy(ctx, files("a.*"), runtime.ChangeOptions{}); err != nil || !res.Unchanged || res.Version != 1 {
				t.Fatalf("deploy a again: %+v %v", res, err)
			}
			if _, err := r.Deploy(ctx, files("b.*"), runtime.ChangeOptions{IfVersion: 7}); !errors.Is(err, runtime.ErrVersionConflict) {
				t.Fatalf("deploy if v7: %v", err)
			}
			if res, err := r.Deploy(ctx, files("b.*"), runtime.ChangeOptions{IfVersion: 1}); err != nil || res.Version != 2 || hub.match() != "b.*" {
				t.Fatalf("deploy b: %+v %v", res, err)
			}
			if res, err := r.Rollback(ctx, runtime.ChangeOptions{}); err != nil || res.Version != 1 || hub.match() != "a.*" {
				t.Fatalf("rollback: %+v %v, hub %q", res, err, hub.match())
			}
			if _, err := r.Rollback(ctx, runtime.ChangeOptions{}); err == nil || !strings.Contains(err.Error(), "no previous version") {
				t.Fatalf("rollback past the first version: %v", err)
			}
			if e, _, found, err := r.Current(ctx); err != nil || !found || e.Version != 1 {
				t.Fatalf("current: %+v %v %v", e, found, err)
			}
		})
	}
}

// TestRulesSeedAndFollow: start-up rules are added where the store holds none, else the
// store wins; another node's deploy reaches a node that follows the store.
func TestRulesSeedAndFollow(t *testing.T) {
	s := rulesStores(t)["redis"]
	ctx := context.Background()
	var hubA, hubB hubRules
	a, b := newTestRules(t, s, &hubA), newTestRules(t, s, &hubB)
	startup := []RulesFile{{File: "a.yaml", Source: rulesYAML("a.*")}}
	if err := a.Seed(ctx, startup, false); err != nil || a.Version() != 1 || hubA.match() != "a.*" {
		t.Fatalf("seed into an empty store: %v, version %d, hub %q", err, a.Version(), hubA.match())
	}
	if err := b.Seed(ctx, []RulesFile{{File: "b.yaml", Source: rulesYAML("b.*")}}, false); err != nil || b.Version() != 1 || hubB.match() != "a.*" {
		t.Fatalf("seed over v1: %v, version %d, hub %q", err, b.Version(), hubB.match())
	}
	b.Start()
	if _, err := a.Deploy(ctx, []RulesFile{{File: "c.yaml", Source: rulesYAML("c.*")}}, runtime.ChangeOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hubB.match() != "c.*" {
		if time.Now().After(deadline) {
			t.Fatalf("b's hub has %q, not a's deploy", hubB.match())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b.Version() != 2 {
		t.Fatalf("b uses version %d", b.Version())
	}
}
