// Package presencetest is the conformance suite of presence stores: the in-memory and the
// Redis store pass the same tests, and a store declares what it lacks (Features) rather than
// skipping silently.
package presencetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/gateway/ws/presence"
	"github.com/edgefn/edgefn/internal/testkit"
)

// Features says what a store does beyond the common part.
type Features struct {
	// Expires: members expire TTL after their last refresh, and the store that prunes them
	// announces their leave.
	Expires bool
	// TTL is the ttl the stores of NewStores were made with, when Expires.
	TTL time.Duration
}

// NewStores returns two stores of one cluster (two nodes sharing it), in a namespace of
// their own; a store that lives in one process may return the same store twice.
type NewStores func(t *testing.T) (a, b presence.Store)

// Run runs the suite.
func Run(t *testing.T, newStores NewStores, f Features) {
	t.Run("JoinPageStatsLeave", func(t *testing.T) { testJoinPageStatsLeave(t, newStores) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, newStores) })
	t.Run("Events", func(t *testing.T) { testEvents(t, newStores) })
	t.Run("RefreshAddsBack", func(t *testing.T) { testRefreshAddsBack(t, newStores) })
	t.Run("Expiry", func(t *testing.T) {
		if !f.Expires {
			t.Log("this store's members do not expire (Features.Expires is false)")
			return
		}
		testExpiry(t, newStores, f.TTL)
	})
}

func member(client, sub string, info string) presence.Member {
	m := presence.Member{Client: client, Sub: sub}
	if info != "" {
		m.Info = json.RawMessage(info)
	}
	return m
}

// all reads every page of topic through s, with pages of limit.
func all(t *testing.T, s presence.Store, topic string, limit int) []presence.Member {
	t.Helper()
	ctx := testkit.Context(t, 10*time.Second)
	var out []presence.Member
	after := ""
	for range 10_000 {
		page, next, err := s.Page(ctx, topic, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("a page of %d members, limit %d", len(page), limit)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		after = next
	}
	t.Fatal("pages never end")
	return nil
}

func clients(ms []presence.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Client
	}
	return out
}

func testJoinPageStatsLeave(t *testing.T, newStores NewStores) {
	a, b := newStores(t)
	ctx := testkit.Context(t, 10*time.Second)
	const topic = "chat.room1"
	joins := []presence.Member{
		member("c3", "ann", `{"name":"Ann","tab":2}`),
		member("c1", "ann", `{"name":"Ann"}`),
		member("c2", "", ""),
		member("c4", "bob", `"Bob"`),
	}
	for _, m := range joins {
		if err := a.Join(ctx, topic, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Join(ctx, "chat.other", member("c9", "zed", "")); err != nil {
		t.Fatal(err)
	}
	got := all(t, b, topic, 100)
	want := []presence.Member{joins[1], joins[2], joins[0], joins[3]}
	if len(got) != len(want) {
		t.Fatalf("members %v, want %v", clients(got), clients(want))
	}
	for i := range want {
		if got[i].Client != want[i].Client || got[i].Sub != want[i].Sub || !jsonEqual(got[i].Info, want[i].Info) {
			t.Errorf("member %d = %+v (info %s), want %+v (info %s)", i, got[i], got[i].Info, want[i], want[i].Info)
		}
	}
	assertStats(t, b, topic, 4, 2)
	if err := a.Leave(ctx, topic, "c1"); err != nil {
		t.Fatal(err)
	}
	assertStats(t, b, topic, 3, 2)
	if err := a.Leave(ctx, topic, "c3"); err != nil {
		t.Fatal(err)
	}
	assertStats(t, b, topic, 2, 1)
	if err := a.Leave(ctx, topic, "nobody"); err != nil {
		t.Fatal(err)
	}
	if got := clients(all(t, b, topic, 100)); !slices.Equal(got, []string{"c2", "c4"}) {
		t.Errorf("after two leaves: %v, want [c2 c4]", got)
	}
	assertStats(t, b, "chat.empty", 0, 0)
	if _, _, err := b.Page(ctx, topic, string(make([]byte, presence.MaxClientLen+1)), 10); err == nil {
		t.Error("a cursor over MaxClientLen was taken")
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

func assertStats(t *testing.T, s presence.Store, topic string, clients, users int) {
	t.Helper()
	c, u, err := s.Stats(testkit.Context(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	if c != clients || u != users {
		t.Errorf("stats of %s = %d clients, %d users; want %d, %d", topic, c, u, clients, users)
	}
}

func testPaging(t *testing.T, newStores NewStores) {
	a, b := newStores(t)
	ctx := testkit.Context(t, 20*time.Second)
	const topic = "big.room"
	var ms []presence.Member
	for i := range 250 {
		ms = append(ms, member(fmt.Sprintf("c%04d", i), fmt.Sprintf("u%d", i%50), ""))
	}
	if err := a.Refresh(ctx, topic, ms); err != nil {
		t.Fatal(err)
	}
	got := clients(all(t, b, topic, 100))
	if want := clients(ms); !slices.Equal(got, want) {
		t.Fatalf("paged %d members (first %v), want the %d in order", len(got), got[:min(3, len(got))], len(want))
	}
	page, next, err := b.Page(ctx, topic, "", 250)
	if err != nil || len(page) != 250 || next != "" {
		t.Errorf("one page of all: %d members, next %q, %v; want 250, no cursor", len(page), next, err)
	}
	assertStats(t, b, topic, 250, 50)
}

// recorder collects the events of a topic.
type recorder struct {
	mu     sync.Mutex
	topic  string
	events []string
}

func (r *recorder) listen(ev presence.Event) {
	if ev.Topic != r.topic {
		return
	}
	kind := "join"
	if ev.Leave {
		kind = "leave"
	}
	r.mu.Lock()
	r.events = append(r.events, kind+" "+ev.Member.Client+" "+ev.Member.Sub+" "+string(ev.Member.Info))
	r.mu.Unlock()
}

func (r *recorder) await(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("events %q", want), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got = slices.Clone(r.events)
		return len(got) >= len(want)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func listen(t *testing.T, s presence.Store, topic string) *recorder {
	r := &recorder{topic: topic}
	if err := s.Listen(t.Context(), r.listen); err != nil {
		t.Fatal(err)
	}
	return r
}

func testEvents(t *testing.T, newStores NewStores) {
	a, b := newStores(t)
	ctx := testkit.Context(t, 10*time.Second)
	const topic = "chat.events"
	r := listen(t, b, topic)
	m := member("c1", "ann", `{"name":"Ann"}`)
	for range 2 { // the second join of a member is no event
		if err := a.Join(ctx, topic, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Join(ctx, "chat.elsewhere", m); err != nil {
		t.Fatal(err)
	}
	for range 2 { // nor a leave of a member that is not there
		if err := a.Leave(ctx, topic, "c1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Join(ctx, topic, member("c2", "", "")); err != nil {
		t.Fatal(err)
	}
	r.await(t, `join c1 ann {"name":"Ann"}`, "leave c1 ann {\"name\":\"Ann\"}", "join c2  ")
}

func testRefreshAddsBack(t *testing.T, newStores NewStores) {
	a, b := newStores(t)
	ctx := testkit.Context(t, 10*time.Second)
	const topic = "chat.back"
	r := listen(t, b, topic)
	m1, m2 := member("c1", "ann", ""), member("c2", "bob", "")
	if err := a.Refresh(ctx, topic, []presence.Member{m1, m2}); err != nil {
		t.Fatal(err)
	}
	// Another node's mistake (or an outage) lost c2: the refresh of its own node brings it back.
	if err := b.Leave(ctx, topic, "c2"); err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(ctx, topic, []presence.Member{m1, m2}); err != nil {
		t.Fatal(err)
	}
	r.await(t, "join c1 ann ", "join c2 bob ", "leave c2 bob ", "join c2 bob ")
	if got := clients(all(t, b, topic, 10)); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("members %v, want [c1 c2]", got)
	}
}

func testExpiry(t *testing.T, newStores NewStores, ttl time.Duration) {
	a, b := newStores(t)
	ctx := testkit.Context(t, 30*time.Second)
	const topic = "chat.expiry"
	r := listen(t, b, topic)
	kept, dead := member("kept", "ann", ""), member("dead", "bob", `{"name":"Bob"}`)
	if err := a.Join(ctx, topic, dead); err != nil {
		t.Fatal(err)
	}
	joined := time.Now()
	// Node b refreshes its own member; node a (dead's) never refreshes again.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(ttl / 4)
		defer tick.Stop()
		for {
			if err := b.Refresh(ctx, topic, []presence.Member{kept}); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-done }()
	testkit.Eventually(t, 10*ttl, "the dead node's member to expire", func() bool {
		ms, _, err := b.Page(ctx, topic, "", 10)
		return err == nil && slices.Equal(clients(ms), []string{"kept"})
	})
	if gone := time.Since(joined); gone < ttl {
		t.Errorf("the member expired after %v, before its ttl %v", gone, ttl)
	}
	r.await(t, `join dead bob {"name":"Bob"}`, "join kept ann ", `leave dead bob {"name":"Bob"}`)
	assertStats(t, a, topic, 1, 1)
	// Two full ttls later the refreshed member is still there.
	deadline := time.Now().Add(2 * ttl)
	for time.Now().Before(deadline) {
		if got := clients(all(t, a, topic, 10)); !slices.Equal(got, []string{"kept"}) {
			t.Fatalf("the refreshed member: members %v, want [kept]", got)
		}
		time.Sleep(ttl / 4)
	}
}
