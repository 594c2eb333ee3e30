package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/cron"
	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

func TestScheduleEventIDIsStable(t *testing.T) {
	at := time.Date(2026, 12, 7, 22, 0, 30, 0, time.UTC)
	a := ScheduleEvent("report", 1, at, []byte(`{"k":1}`))
	b := ScheduleEvent("report", 1, at.In(time.FixedZone("X", 3600)), []byte(`{"k":1}`))
	if a.ID != b.ID || a.ID != "schedule/report/1/1796680830" {
		t.Fatalf("IDs %q and %q; want both schedule/report/1/1796680830", a.ID, b.ID)
	}
	for _, other := range []*event.Event{
		ScheduleEvent("report", 0, at, nil), ScheduleEvent("reports", 1, at, nil), ScheduleEvent("report", 1, at.Add(time.Second), nil),
	} {
		if other.ID == a.ID {
			t.Errorf("%q: another function, trigger or instant gives the same ID", other.ID)
		}
	}
	if a.Type != "edgefn.schedule" || a.Source != "schedule/report" || !a.Time.Equal(at) || a.ContentType != "application/json" ||
		string(a.Data) != `{"k":1}` || a.Attempt != 1 {
		t.Errorf("event %+v", a)
	}
	if e := ScheduleEvent("report", 0, at, nil); e.Data != nil || e.ContentType != "" {
		t.Errorf("no data: event has data %q, content type %q", e.Data, e.ContentType)
	}
}

// rig is one function's schedules on the embedded broker: its schedulers, and its run
// consumer, started by the manager as serve starts them; the manager's Run is not needed.
type rig struct {
	b     *memory.Broker
	m     *Manager
	f     *fakeFn
	store ScheduleStore
}

// newRig deploys the function "report" with the given triggers (YAML list items) on a
// manager sharing store, and starts its run consumer.
func newRig(t *testing.T, triggers string, store ScheduleStore, do func(*event.Event) (*event.Result, error)) *rig {
	t.Helper()
	set, err := manifest.Parse("m.yaml", []byte("name: report\nhandler: /bin/true\ntimeout: 5s\ntriggers:\n"+triggers))
	if err != nil {
		t.Fatal(err)
	}
	b := memory.New(memory.Options{})
	m := NewManager(ManagerConfig{Queues: b, Streams: b, Effects: &Effects{Queues: b, Streams: b}, Claims: store})
	r := &rig{b: b, m: m, f: &fakeFn{name: "report", m: set.Functions[0], do: do}, store: store}
	mf := r.f.m
	if err := m.startRuns(context.Background(), binding{fn: r.f, m: mf, runs: true, key: runsKey(mf), label: "runs"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.stopAll(); b.Close() })
	return r
}

// scheduler is the scheduler of the index-th trigger on node, with the manager's wiring.
func (r *rig) scheduler(index int, node string) *Scheduler {
	runs, _ := ScheduleStreams(r.m.cfg.KeyPrefix, "report")
	return NewScheduler(ScheduleConfig{Function: "report", Index: index, Trigger: r.f.m.Triggers[index].Schedule,
		Timeout: 5 * time.Second, Store: r.store, Streams: r.b, Runs: runs, Stats: r.m.scheduleStats("report"), NodeID: node})
}

func (r *rig) stats() *ScheduleStats { return r.m.scheduleStats("report") }

// TestScheduleTickOncePerClaims: schedulers sharing claims (the nodes of a cluster) run each
// instant once, whichever ticks first.
func TestScheduleTickOncePerClaims(t *testing.T) {
	r := newRig(t, "  - schedule: {cron: '@every 1s', overlap: true}\n", NewMemoryClaims(),
		func(*event.Event) (*event.Result, error) { return nil, nil })
	a, b := r.scheduler(0, "a"), r.scheduler(0, "b")
	at := time.Unix(1_800_000_000, 0)
	for i := range 5 {
		a.tick(context.Background(), at.Add(time.Duration(i)*time.Second))
		b.tick(context.Background(), at.Add(time.Duration(i)*time.Second))
	}
	testkit.Eventually(t, 5*time.Second, "five runs", func() bool { return r.stats().Success.Load() == 5 })
	seen := map[string]bool{}
	for _, ev := range r.f.events() {
		if seen[ev.ID] {
			t.Errorf("%s ran twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	if len(seen) != 5 {
		t.Fatalf("ran %d instants; want 5", len(seen))
	}
}

// TestScheduleSkipsWhileRunning: a tick that comes while the previous run goes is skipped
// and counted, unless overlap is on; a failed run counts as an error.
func TestScheduleSkipsWhileRunning(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		release := make(chan struct{})
		r := newRig(t, fmt.Sprintf("  - schedule: {cron: '@every 1s', overlap: %t, retries: 0}\n", overlap), NewMemoryClaims(),
			func(ev *event.Event) (*event.Result, error) {
				<-release
				return nil, errors.New("boom")
			})
		s := r.scheduler(0, "a")
		at := time.Unix(1_800_000_000, 0)
		s.tick(context.Background(), at)
		testkit.Eventually(t, 5*time.Second, "the first run starts", func() bool { return r.f.calls.Load() == 1 })
		s.tick(context.Background(), at.Add(time.Second))
		wantSkipped, wantRuns := int64(1), int64(1)
		if overlap {
			wantSkipped, wantRuns = 0, 2
			testkit.Eventually(t, 5*time.Second, "the second run starts", func() bool { return r.f.calls.Load() == 2 })
		}
		close(release)
		testkit.Eventually(t, 5*time.Second, "the runs fail", func() bool { return s.Stats.Error.Load() == wantRuns })
		if s.Stats.Skipped.Load() != wantSkipped || r.f.calls.Load() != wantRuns {
			t.Errorf("overlap %t: skipped %d, runs %d; want %d, %d", overlap, s.Stats.Skipped.Load(), r.f.calls.Load(), wantSkipped, wantRuns)
		}
		// Once the run is over (dead-lettered), the next tick runs.
		if !overlap {
			s.tick(context.Background(), at.Add(2*time.Second))
			testkit.Eventually(t, 5*time.Second, "the tick after the slow run runs", func() bool { return r.f.calls.Load() == 2 })
		}
	}
}

// TestScheduleRetriesDeadLettersRedrives: a run that keeps failing is tried 1+retries times
// with the same event ID and growing attempts, then dead-lettered with its error, holding
// the run lock until then; a redrive runs it again, and it succeeds.
func TestScheduleRetriesDeadLettersRedrives(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	r := newRig(t, "  - schedule: {cron: '@every 1s', retries: 2, backoff: 20ms}\n", NewMemoryClaims(),
		func(ev *event.Event) (*event.Result, error) {
			if fail.Load() {
				return nil, errors.New("report service down")
			}
			return nil, nil
		})
	s := r.scheduler(0, "a")
	at := time.Unix(1_800_000_000, 0)
	s.tick(context.Background(), at)
	testkit.Eventually(t, 5*time.Second, "three failed attempts", func() bool { return s.Stats.Error.Load() == 3 })
	_, dead := ScheduleStreams(r.m.cfg.KeyPrefix, "report")
	var dl []triggers.DeadMessage
	testkit.Eventually(t, 5*time.Second, "the run dead-lettered", func() bool {
		var err error
		dl, err = r.b.ListDead(context.Background(), dead, 10)
		return err == nil && len(dl) == 1
	})
	want := "schedule/report/0/1800000000"
	if dl[0].ID != want || dl[0].Attempts != 3 || dl[0].Error != "report service down" || dl[0].Type != ScheduleEventType {
		t.Errorf("dead letter %+v; want %s after 3 attempts", dl[0], want)
	}
	for i, ev := range r.f.events() {
		if ev.ID != want || ev.Attempt != i+1 || ev.Source != "schedule/report" {
			t.Errorf("attempt %d: event %s attempt %d source %s", i+1, ev.ID, ev.Attempt, ev.Source)
		}
	}
	// The lock went with the dead letter: the next tick runs.
	s.tick(context.Background(), at.Add(time.Second))
	testkit.Eventually(t, 5*time.Second, "the next tick runs", func() bool { return r.f.calls.Load() >= 4 })
	testkit.Eventually(t, 5*time.Second, "the next tick is dead-lettered", func() bool { return s.Stats.Error.Load() == 6 })

	fail.Store(false)
	dead2, runs, err := r.m.ScheduleDeadLetters(r.f.m)
	if err != nil || dead2 != dead {
		t.Fatalf("dead letters %q, %v; want %q", dead2, err, dead)
	}
	n, err := r.b.Redrive(context.Background(), dead, runs, 100)
	if err != nil || n != 2 {
		t.Fatalf("redrive moved %d (%v); want 2", n, err)
	}
	testkit.Eventually(t, 5*time.Second, "the re-driven runs succeed", func() bool { return s.Stats.Success.Load() == 2 })
	evs := r.f.events()
	ids := []string{evs[len(evs)-2].ID, evs[len(evs)-1].ID}
	slices.Sort(ids)
	if ids[0] != want || ids[1] != "schedule/report/0/1800000001" || evs[len(evs)-1].Attempt != 1 {
		t.Errorf("re-driven runs %v (attempt %d); want the two dead instants at attempt 1", ids, evs[len(evs)-1].Attempt)
	}
}

// TestScheduleCatchUp: with a fixed clock, a trigger that last fired at T and starts again
// at T+10.5s runs exactly its catchUp latest missed instants, oldest first; a node that
// starts after it replays none; catchUp 0 replays none.
func TestScheduleCatchUp(t *testing.T) {
	store := NewMemoryClaims()
	r := newRig(t, "  - schedule: {cron: '@every 1s', catchUp: 3, overlap: true}\n  - schedule: {cron: '@every 1s'}\n", store,
		func(*event.Event) (*event.Result, error) { return nil, nil })
	last := time.Unix(1_800_000_000, 0)
	for _, i := range []int{0, 1} {
		if f, err := store.Fire(context.Background(), "old", time.Minute, Tick{Function: "report", Index: i, At: last}); err != nil || f[0] != FiredTaken {
			t.Fatal(f, err)
		}
	}
	now := last.Add(10*time.Second + 500*time.Millisecond)
	for _, i := range []int{0, 1} {
		s := r.scheduler(i, "a")
		s.cfg.Now = func() time.Time { return now }
		s.catchUp(context.Background(), now)
	}
	testkit.Eventually(t, 5*time.Second, "three runs", func() bool { return r.stats().Success.Load() == 3 })
	late := r.scheduler(0, "b")
	late.catchUp(context.Background(), now.Add(time.Second/4))
	var ids []string
	for _, ev := range r.f.events() {
		ids = append(ids, ev.ID)
	}
	slices.Sort(ids)
	want := []string{"schedule/report/0/1800000008", "schedule/report/0/1800000009", "schedule/report/0/1800000010"}
	if !slices.Equal(ids, want) {
		t.Fatalf("caught up %v; want %v", ids, want)
	}
	if got, _ := store.Last(context.Background(), "report", 0); !got.Equal(last.Add(10 * time.Second)) {
		t.Errorf("last instant %v after the catch-up; want %v", got, last.Add(10*time.Second))
	}
}

// TestMissedInstants: the last n instants after last up to now, for @every and cron
// expressions; none when the trigger never fired.
func TestMissedInstants(t *testing.T) {
	parse := func(expr string) *manifest.ScheduleTrigger {
		s, err := cron.Parse(expr, "")
		if err != nil {
			t.Fatal(err)
		}
		return &manifest.ScheduleTrigger{Cron: expr, Schedule: s}
	}
	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		expr      string
		last, now time.Time
		n         int
		want      []time.Time
	}{
		{"@every 1s", base, base.Add(5 * time.Second), 2, []time.Time{base.Add(4 * time.Second), base.Add(5 * time.Second)}},
		{"@every 1s", base, base.Add(24 * time.Hour), 1, []time.Time{base.Add(24 * time.Hour)}},
		{"@every 1s", base, base.Add(1500 * time.Millisecond), 5, []time.Time{base.Add(time.Second)}},
		{"@every 1s", time.Time{}, base, 5, nil},
		{"0 * * * *", base, base.Add(90 * 24 * time.Hour).Add(30 * time.Minute), 2,
			[]time.Time{base.Add(90*24*time.Hour - time.Hour), base.Add(90 * 24 * time.Hour)}},
		{"0 * * * *", base, base.Add(59 * time.Minute), 3, nil},
	} {
		got := MissedInstants(parse(c.expr), c.last, c.now, c.n)
		if !slices.EqualFunc(got, c.want, time.Time.Equal) {
			t.Errorf("%s last %v now %v n %d: %v; want %v", c.expr, c.last, c.now, c.n, got, c.want)
		}
	}
}

// TestSchedulePauseRunResume: a paused function's ticks do not run (and are no missed
// instants for a catch-up); a run asked for runs anyway, with a run ID; resumed, ticks run.
func TestSchedulePauseRunResume(t *testing.T) {
	store := NewMemoryClaims()
	r := newRig(t, "  - schedule: {cron: '@every 1s', data: {k: 1}}\n", store, func(*event.Event) (*event.Result, error) { return nil, nil })
	s := r.scheduler(0, "a")
	if err := r.m.PauseSchedules(context.Background(), r.f.m, true); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_000, 0)
	s.tick(context.Background(), at)
	ids, err := r.m.RunSchedules(context.Background(), r.f.m)
	if err != nil || len(ids) != 1 || !strings.HasPrefix(ids[0], "schedule/report/0/run-") {
		t.Fatalf("run: %v %v", ids, err)
	}
	testkit.Eventually(t, 5*time.Second, "the run asked for", func() bool { return r.f.calls.Load() == 1 })
	if ev := r.f.events()[0]; ev.ID != ids[0] || string(ev.Data) != `{"k":1}` {
		t.Errorf("the run asked for ran %s with %s", ev.ID, ev.Data)
	}
	if last, _ := store.Last(context.Background(), "report", 0); !last.Equal(at) {
		t.Errorf("a paused instant is not the last one (%v): a catch-up would replay it", last)
	}
	infos, err := r.m.Schedules(context.Background(), r.f.m)
	if err != nil || len(infos) != 1 || !infos[0].Paused {
		t.Errorf("schedules %+v, %v; want one, paused", infos, err)
	}
	if err := r.m.PauseSchedules(context.Background(), r.f.m, false); err != nil {
		t.Fatal(err)
	}
	s.tick(context.Background(), at.Add(time.Second))
	testkit.Eventually(t, 5*time.Second, "the resumed tick", func() bool { return r.f.calls.Load() == 2 })
	if id := r.f.events()[1].ID; id != "schedule/report/0/1800000001" {
		t.Errorf("resumed tick ran %s", id)
	}
	if d := time.Duration(r.stats().Lag.Load()); d < 0 {
		t.Errorf("lag %v after a tick's run", d)
	}
}

// TestScheduleRunFiresOnInstants runs a scheduler on the real clock until it fires twice:
// the events' times are consecutive whole seconds.
func TestScheduleRunFiresOnInstants(t *testing.T) {
	r := newRig(t, "  - schedule: {cron: '@every 1s'}\n", NewMemoryClaims(), func(*event.Event) (*event.Result, error) { return nil, nil })
	s := r.scheduler(0, "a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	testkit.Eventually(t, 10*time.Second, "two ticks", func() bool { return r.f.calls.Load() >= 2 })
	cancel()
	<-done
	evs := r.f.events()
	slices.SortFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
	if evs[0].Time.Nanosecond() != 0 || !evs[1].Time.Equal(evs[0].Time.Add(time.Second)) {
		t.Fatalf("instants %v, %v; want consecutive whole seconds", evs[0].Time, evs[1].Time)
	}
}

// TestScheduleManagerFollowsDeploys: a deployed function's schedule runs; a redeploy that
// keeps the trigger keeps its scheduler; a delete stops it (its runs are over once the
// manager has reconciled), while another function's schedule goes on.
func TestScheduleManagerFollowsDeploys(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	parse := func(name string) *manifest.Function {
		set, err := manifest.Parse("m.yaml", []byte("name: "+name+"\nhandler: /bin/true\ntriggers:\n  - schedule: {cron: '@every 1s'}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return set.Functions[0]
	}
	ok := func(*event.Event) (*event.Result, error) { return nil, nil }
	f := &fakeFn{name: "f", m: parse("f"), do: ok}
	g := &fakeFn{name: "g", m: parse("g"), do: ok}
	m := NewManager(ManagerConfig{Queues: b, Streams: b, Effects: &Effects{Queues: b, Streams: b}})
	ctx, cancel := context.WithCancel(context.Background())
	go m.Run(ctx)
	t.Cleanup(func() { cancel(); m.Wait() })
	scheduler := func() *Scheduler {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, r := range m.running {
			if r.schedule != nil && r.schedule.cfg.Function == "f" {
				return r.schedule
			}
		}
		return nil
	}
	settled := func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.reconciled == m.updated
	}

	m.Update([]Function{f})
	testkit.Eventually(t, 10*time.Second, "f's schedule to run", func() bool { return f.calls.Load() >= 1 })
	first := scheduler()
	m.Update([]Function{&fakeFn{name: "f", m: parse("f"), do: ok}, g}) // f redeployed as it was, g deployed
	testkit.Eventually(t, 10*time.Second, "the redeploy to be reconciled", settled)
	if scheduler() != first {
		t.Error("a redeploy that kept the trigger restarted its scheduler")
	}

	m.Update([]Function{g}) // f deleted
	testkit.Eventually(t, 10*time.Second, "f's scheduler to stop", func() bool { return settled() && scheduler() == nil })
	n := f.calls.Load()
	since := g.calls.Load()
	testkit.Eventually(t, 10*time.Second, "two more ticks of g", func() bool { return g.calls.Load() >= since+2 })
	if f.calls.Load() != n {
		t.Errorf("f ran %d times after it was deleted", f.calls.Load()-n)
	}
}

// refusals records the instants refused to each node, by the prefix of the owner.
type refusals struct {
	ScheduleStore
	mu      sync.Mutex
	refused map[string]int
}

func (r *refusals) Fire(ctx context.Context, owner string, ttl time.Duration, ticks ...Tick) ([]Fired, error) {
	fs, err := r.ScheduleStore.Fire(ctx, owner, ttl, ticks...)
	for _, f := range fs {
		if f == FiredElsewhere {
			r.mu.Lock()
			r.refused[owner]++
			r.mu.Unlock()
		}
	}
	return fs, err
}

func (r *refusals) count(node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused[node]
}

// TestScheduleClockSkew: two nodes whose clocks are three seconds apart, sharing claims, run
// each instant once: the claim is the instant, not either node's now.
func TestScheduleClockSkew(t *testing.T) {
	claims := &refusals{ScheduleStore: NewMemoryClaims(), refused: map[string]int{}}
	r := newRig(t, "  - schedule: {cron: '@every 1s', overlap: true}\n", claims, func(*event.Event) (*event.Result, error) { return nil, nil })
	ahead := r.scheduler(0, "ahead")
	ahead.cfg.Now = func() time.Time { return time.Now().Add(3 * time.Second) }
	behind := r.scheduler(0, "behind")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, s := range []*Scheduler{ahead, behind} {
		go func() { s.Run(ctx); done <- struct{}{} }()
	}
	testkit.Eventually(t, 15*time.Second, "the node behind to reach three instants the one ahead ran", func() bool {
		return claims.count("behind") >= 3
	})
	cancel()
	<-done
	<-done
	testkit.Eventually(t, 5*time.Second, "the runs published", func() bool { return r.stats().Success.Load() >= 3 })
	seen := map[string]bool{}
	for _, ev := range r.f.events() {
		if seen[ev.ID] {
			t.Errorf("%s ran twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	if len(seen) < 3 {
		t.Errorf("%d instants ran; want at least the three the node behind reached", len(seen))
	}
}

// batches records the size of each Fire call.
type batches struct {
	ScheduleStore
	mu    sync.Mutex
	sizes []int
}

func (b *batches) Fire(ctx context.Context, owner string, ttl time.Duration, ticks ...Tick) ([]Fired, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(ticks))
	b.mu.Unlock()
	return b.ScheduleStore.Fire(ctx, owner, ttl, ticks...)
}

func (b *batches) calls() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sizes)
}

// TestClockFiresInBatches: the triggers of a function that share an instant are fired by one
// clock in one call to the store, and their runs all run; a removed scheduler fires no more.
func TestClockFiresInBatches(t *testing.T) {
	store := &batches{ScheduleStore: NewMemoryClaims()}
	const n = 50
	r := newRig(t, strings.Repeat("  - schedule: {cron: '@every 1s'}\n", n), store, func(*event.Event) (*event.Result, error) { return nil, nil })
	c := NewClock(nil, nil)
	var ss []*Scheduler
	for i := range n {
		s := r.scheduler(i, "a")
		ss = append(ss, s)
		c.Add(context.Background(), s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// The Adds may straddle a second: the first instant may have fewer triggers, not the next.
	testkit.Eventually(t, 10*time.Second, "two whole instants", func() bool {
		full := 0
		for _, size := range store.calls() {
			if size == n {
				full++
			}
		}
		return full >= 2
	})
	for i, size := range store.calls()[1:] {
		if size != n {
			t.Errorf("call %d to the store fired %d ticks; want the %d of one instant", i+2, size, n)
		}
	}
	for _, s := range ss[1:] {
		c.Remove(s)
	}
	calls := len(store.calls())
	testkit.Eventually(t, 10*time.Second, "two more instants", func() bool { return len(store.calls()) >= calls+2 })
	for _, size := range store.calls()[calls:] {
		if size != 1 {
			t.Errorf("after the removals a call fired %d ticks; want 1", size)
		}
	}
}
