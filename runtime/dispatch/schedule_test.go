package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/cron"
	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
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

func newTestScheduler(t *testing.T, expr string, overlap bool, claims Claims, node string, f Invoker) *Scheduler {
	t.Helper()
	s, err := cron.Parse(expr, "")
	if err != nil {
		t.Fatal(err)
	}
	b := memory.New(memory.Options{})
	return NewScheduler(ScheduleConfig{Function: "report", Trigger: &manifest.ScheduleTrigger{Cron: expr, Schedule: s, Overlap: overlap},
		Claims: claims, NodeID: node, Timeout: 5 * time.Second}, f, &Effects{Queues: b, Streams: b})
}

// TestScheduleTickOncePerClaims: schedulers sharing claims (the nodes of a cluster) run each
// instant once, whichever ticks first.
func TestScheduleTickOncePerClaims(t *testing.T) {
	f := &fakeFn{do: func(*event.Event) (*event.Result, error) { return nil, nil }}
	claims := NewMemoryClaims()
	a := newTestScheduler(t, "@every 1s", true, claims, "a", f)
	b := newTestScheduler(t, "@every 1s", true, claims, "b", f)
	at := time.Unix(1_800_000_000, 0)
	for i := range 5 {
		a.tick(context.Background(), at.Add(time.Duration(i)*time.Second))
		b.tick(context.Background(), at.Add(time.Duration(i)*time.Second))
	}
	a.runs.Wait()
	b.runs.Wait()
	seen := map[string]bool{}
	for _, ev := range f.events() {
		if seen[ev.ID] {
			t.Errorf("%s ran twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	if len(seen) != 5 || a.Stats.Success.Load()+b.Stats.Success.Load() != 5 {
		t.Fatalf("ran %d instants (success a=%d b=%d); want 5", len(seen), a.Stats.Success.Load(), b.Stats.Success.Load())
	}
}

// TestScheduleSkipsWhileRunning: a tick that comes while the previous run goes is skipped
// and counted, unless overlap is on; a failed run counts as an error.
func TestScheduleSkipsWhileRunning(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		release := make(chan struct{})
		f := &fakeFn{do: func(ev *event.Event) (*event.Result, error) {
			<-release
			return nil, errors.New("boom")
		}}
		s := newTestScheduler(t, "@every 1s", overlap, NewMemoryClaims(), "a", f)
		at := time.Unix(1_800_000_000, 0)
		s.tick(context.Background(), at)
		testkit.Eventually(t, 5*time.Second, "the first run starts", func() bool { return f.calls.Load() == 1 })
		s.tick(context.Background(), at.Add(time.Second))
		close(release)
		s.runs.Wait()
		wantSkipped, wantRuns := int64(1), int64(1)
		if overlap {
			wantSkipped, wantRuns = 0, 2
		}
		if s.Stats.Skipped.Load() != wantSkipped || f.calls.Load() != wantRuns || s.Stats.Error.Load() != wantRuns {
			t.Errorf("overlap %t: skipped %d, runs %d, errors %d; want %d, %d, %d", overlap,
				s.Stats.Skipped.Load(), f.calls.Load(), s.Stats.Error.Load(), wantSkipped, wantRuns, wantRuns)
		}
		// Once the run is over, the next tick runs.
		if !overlap {
			s.tick(context.Background(), at.Add(2*time.Second))
			s.runs.Wait()
			if f.calls.Load() != 2 {
				t.Errorf("the tick after the slow run did not run")
			}
		}
	}
}

// TestScheduleRunFiresOnInstants runs a scheduler on the real clock until it fires twice:
// the events' times are consecutive whole seconds.
func TestScheduleRunFiresOnInstants(t *testing.T) {
	f := &fakeFn{do: func(*event.Event) (*event.Result, error) { return nil, nil }}
	s := newTestScheduler(t, "@every 1s", false, NewMemoryClaims(), "a", f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	testkit.Eventually(t, 10*time.Second, "two ticks", func() bool { return f.calls.Load() >= 2 })
	cancel()
	<-done
	evs := f.events()
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

// refusals records the claims refused to each node, by the prefix of the owner.
type refusals struct {
	Claims
	mu      sync.Mutex
	refused map[string]int
}

func (r *refusals) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	ok, err := r.Claims.Claim(ctx, key, owner, ttl)
	if !ok && err == nil {
		r.mu.Lock()
		r.refused[strings.SplitN(owner, "/", 2)[0]]++
		r.mu.Unlock()
	}
	return ok, err
}

func (r *refusals) count(node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused[node]
}

// TestScheduleClockSkew: two nodes whose clocks are three seconds apart, sharing claims, run
// each instant once: the claim is the instant, not either node's now.
func TestScheduleClockSkew(t *testing.T) {
	f := &fakeFn{do: func(*event.Event) (*event.Result, error) { return nil, nil }}
	claims := &refusals{Claims: NewMemoryClaims(), refused: map[string]int{}}
	ahead := newTestScheduler(t, "@every 1s", true, claims, "ahead", f)
	ahead.cfg.Now = func() time.Time { return time.Now().Add(3 * time.Second) }
	behind := newTestScheduler(t, "@every 1s", true, claims, "behind", f)
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
	seen := map[string]bool{}
	for _, ev := range f.events() {
		if seen[ev.ID] {
			t.Errorf("%s ran twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	if len(seen) < 3 {
		t.Errorf("%d instants ran; want at least the three the node behind reached", len(seen))
	}
}
