package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// The scaler's arithmetic, on a fixed clock: up at once to what the load needs, down only to
// the most the stabilization window needed, to zero only after idle, within min and max.
func TestRecommend(t *testing.T) {
	sc := manifest.Scale{Min: 0, Max: 4, Target: 2, Idle: 10 * time.Second, Stabilization: 3 * time.Second}
	t0 := time.Unix(1_000_000, 0)
	var u usage
	u.reset(t0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// busy adds n invocations that each took d: n*d of work within the tick.
	busy := func(n int, d time.Duration) { u.done(n, d) }

	steps := []struct {
		name     string
		sec      int
		work     func()
		cur      int
		inflight int
		backlog  int
		want     int
	}{
		{"5 in flight on average over a second wants 3 at target 2", 1, func() { busy(10, 500*time.Millisecond) }, 1, 0, 0, 3},
		{"more than max is max", 2, func() { busy(100, time.Second) }, 3, 0, 0, 4},
		{"the load drops: the window still holds 4", 3, func() { busy(1, time.Millisecond) }, 4, 0, 0, 4},
		{"in flight now counts even before it finishes", 4, func() {}, 4, 8, 0, 4},
		{"past the window, down to what is needed, one kept warm", 8, func() { busy(1, time.Millisecond) }, 4, 0, 0, 1},
		{"no invocation, but not idle yet: one stays", 15, func() {}, 1, 0, 0, 1},
		{"idle: zero", 19, func() {}, 1, 0, 0, 0},
		{"at zero without calls it stays there", 20, func() {}, 0, 0, 0, 0},
		{"a backlog counts as load, and as use", 21, func() {}, 0, 0, 5, 3},
		{"the backlog gone, the window keeps them", 22, func() {}, 3, 0, 0, 3},
	}
	for _, s := range steps {
		s.work()
		got, reason := u.recommend(sc, at(s.sec), s.cur, s.inflight, s.backlog)
		if got != s.want {
			t.Errorf("%s: recommend = %d (%s), want %d", s.name, got, reason, s.want)
		}
	}

	fixedMin := manifest.Scale{Min: 2, Max: 3, Target: 1, Idle: time.Second}
	u.reset(t0)
	if got, _ := u.recommend(fixedMin, at(100), 2, 0, 0); got != 2 {
		t.Errorf("with min 2 and no load: %d, want 2", got)
	}
}

// scaledPool is a pool of bin scaled by sc, started as a deploy starts it, with s as the node's
// scaler.
func scaledPool(t *testing.T, s *scaler, name, bin string, sc manifest.Scale) *pool {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := newPool(instanceSpec{Function: name, Version: 1, Binary: bin, Sum: sumOf(t, bin), Binaries: newBinaries(),
		StartTimeout: time.Minute, Logs: NewLogs(name, logger), Logger: logger}, sc, new(restarts), s)
	if err := p.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// toZero scales p to zero as the scaler does after idle, and waits for its process to stop.
func toZero(t *testing.T, s *scaler, p *pool) {
	t.Helper()
	s.mu.Lock()
	s.set(p, 0, "test")
	s.mu.Unlock()
	deadline := time.Now().Add(poolWait)
	for p.draining.Load() > 0 || p.readyCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pool did not stop its processes")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pidOf(t *testing.T, o outcome) float64 {
	t.Helper()
	if o.err != nil {
		t.Fatalf("info: %v", o.err)
	}
	var info struct{ PID float64 }
	if err := json.Unmarshal(o.res.Body, &info); err != nil {
		t.Fatal(err)
	}
	return info.PID
}

func TestScaling(t *testing.T) {
	bin := buildTestfn(t)
	zeroable := manifest.Scale{Min: 0, Max: 3, Target: 1, Idle: time.Hour, Stabilization: time.Hour}

	// A pool at zero wakes for the calls that come: 50 at once share one start.
	t.Run("cold start shared", func(t *testing.T) {
		s := newTestScaler()
		p := scaledPool(t, s, "cold", bin, zeroable)
		toZero(t, s, p)
		var wg sync.WaitGroup
		outs := make([][]outcome, 50)
		for k := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[k] = make([]outcome, 1)
				p.invoke(context.Background(), []*event.Event{{Type: "info"}}, outs[k])
			}()
		}
		wg.Wait()
		pids := map[float64]int{}
		for _, out := range outs {
			pids[pidOf(t, out[0])]++
		}
		if len(pids) != 1 || p.want.Load() != 1 {
			t.Errorf("50 calls at zero were answered by processes %v with want %d, want one process started once", pids, p.want.Load())
		}
	})

	// A call that waits for a cold start has a "cold start" span under its invocation's.
	t.Run("cold start traced", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		prev := otel.GetTracerProvider()
		telemetry.Install(tp)
		t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })
		s := newTestScaler()
		p := scaledPool(t, s, "traced", bin, zeroable)
		toZero(t, s, p)
		ctx, parent := tp.Tracer("test").Start(context.Background(), "invoke traced")
		out := []outcome{{span: parent}}
		p.invoke(ctx, []*event.Event{{Type: "info"}}, out)
		parent.End()
		if out[0].err != nil {
			t.Fatal(out[0].err)
		}
		var cold []string
		for _, sp := range exp.GetSpans() {
			if sp.Name == "cold start" && sp.Parent.SpanID() == parent.SpanContext().SpanID() {
				cold = append(cold, sp.Name)
			}
		}
		if len(cold) != 1 {
			t.Errorf("spans %v, want one cold start under the invocation", exp.GetSpans().Snapshots())
		}
	})

	// A process no longer wanted finishes what it runs before it stops.
	t.Run("scale down drains", func(t *testing.T) {
		s := newTestScaler()
		p := scaledPool(t, s, "drain", bin, zeroable)
		done := poolInvokeAsync(context.Background(), p, []*event.Event{sleepFor("300")})
		deadline := time.Now().Add(poolWait)
		for p.slots[0].inst.Load().holds.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the call never reached the process")
			}
			time.Sleep(time.Millisecond)
		}
		toZero(t, s, p)
		if out := poolRecv(t, done); out[0].err != nil {
			t.Errorf("the call in flight during a scale-down: %v, want its answer", out[0].err)
		}
	})

	// The scaler adds processes for the load, within max.
	t.Run("scale up", func(t *testing.T) {
		s := newTestScaler()
		p := scaledPool(t, s, "up", bin, zeroable)
		p.inflightOf = func() int { return 7 } // target 1: 7 wanted, max 3
		s.decide(time.Now().Add(time.Second))
		if got := p.want.Load(); got != 3 {
			t.Fatalf("want = %d after 7 in flight, want max 3", got)
		}
		deadline := time.Now().Add(poolWait)
		for p.readyCount() != 3 {
			if time.Now().After(deadline) {
				t.Fatalf("%d of 3 processes ready", p.readyCount())
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	// A start that fails fails the calls waiting for it with 503 and its reason, and calls
	// during the backoff fail at once.
	t.Run("start fails", func(t *testing.T) {
		s := newTestScaler()
		p := scaledPool(t, s, "broken", bin, zeroable)
		toZero(t, s, p)
		p.spec.Sum = strings.Repeat("0", 64) // the binary no longer matches its deploy
		for k := range 2 {
			out := make([]outcome, 1)
			ctx, cancel := context.WithTimeout(context.Background(), poolWait)
			p.invoke(ctx, []*event.Event{{Type: "info"}}, out)
			cancel()
			var re *Error
			if !errors.As(out[0].err, &re) || re.Status != 503 || re.Code != "start_failed" || re.Message != "function could not start: binary changed since its deploy" {
				t.Errorf("call %d at a broken start: %v, want 503 start_failed with the reason", k, out[0].err)
			}
		}
	})

	// Under --max-instances, a cold start stops the least recently used idle process of
	// another function; with none to stop it fails with ErrAtCapacity.
	t.Run("max instances", func(t *testing.T) {
		s := newScaler(2, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		a := scaledPool(t, s, "a", bin, zeroable)
		b := scaledPool(t, s, "b", bin, zeroable)
		c := scaledPool(t, s, "c", bin, zeroable) // its deploy made room: a, the oldest, stopped
		if a.want.Load() != 0 || b.want.Load() != 1 || c.want.Load() != 1 {
			t.Fatalf("after three deploys under a cap of 2: want a=%d b=%d c=%d, want 0 1 1", a.want.Load(), b.want.Load(), c.want.Load())
		}
		b.inflightOf = func() int { return 1 }
		c.inflightOf = func() int { return 1 }
		out := make([]outcome, 1)
		a.invoke(context.Background(), []*event.Event{{Type: "info"}}, out)
		if !errors.Is(out[0].err, ErrAtCapacity) {
			t.Errorf("a cold start with every process busy: %v, want ErrAtCapacity", out[0].err)
		}
		c.inflightOf = nil
		a.invoke(context.Background(), []*event.Event{{Type: "info"}}, out)
		if out[0].err != nil || c.want.Load() != 0 || s.total != 2 {
			t.Errorf("a cold start with c idle: %v, c want %d, total %d; want an answer, c stopped, total 2", out[0].err, c.want.Load(), s.total)
		}
	})
}
