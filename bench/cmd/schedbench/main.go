// Command schedbench measures the schedule triggers of one edgefn node: -triggers `@every 1s`
// triggers (1,000 by default) spread over -functions functions (20), run by the trigger
// manager (runtime/dispatch) on the embedded backend, as `edgefn serve` without --redis runs
// them (with -redis URL, on Redis as a cluster node does), for functions that return at
// once. It reports the scheduler's CPU, its memory (heap and goroutine stacks in use, after a
// GC, over what the process held before it started) and how late the runs start: from the
// tick's instant to the call of the function, every run of the measured window counted.
//
// The baseline, measured in the same rounds and the same process, is the least a scheduler
// can do: a goroutine and a timer per trigger that calls the function itself at each whole
// second, with no claim, no run stream, no retries and no run lock. The function is an
// in-process no-op in both, so that what is measured is the scheduler, not a plugin process.
//
// Each round measures the baseline and edgefn one after the other (which goes first
// alternates), each for -warmup then -duration. It reports the median over the rounds with the
// lowest and highest round as markdown, and with -write FILE replaces the part of FILE between
// <!-- schedule-results:start --> and <!-- schedule-results:end --> (appended when missing).
//
// Usage, from the repository:
//
//	go run ./bench/cmd/schedbench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/bench/internal/harness"
	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
	"github.com/edgefn/edgefn/triggers/redis"
)

// cmd describes schedbench to the scaffolding the benchmark commands share; it builds no
// program: everything runs in this process.
var cmd = harness.Command{Name: "schedbench", Section: "schedule-results", Attempts: 3}

// goal is the bound on the p99 lateness of runs.
const goal = 50 * time.Millisecond

type options struct {
	rounds    int
	functions int
	triggers  int
	warmup    time.Duration
	duration  time.Duration
	redisURL  string
	harness.Options
}

func main() {
	o := options{}
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures the baseline and edgefn in turn")
	flag.IntVar(&o.functions, "functions", 20, "functions the triggers are spread over")
	flag.IntVar(&o.triggers, "triggers", 1000, "`@every 1s` schedule triggers in all")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "time the triggers run before the measured window")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "the measured window")
	flag.StringVar(&o.redisURL, "redis", "", "Redis URL: claims and run streams in Redis, as a cluster node (default: embedded)")
	cmd.Main(&o.Options, func() error {
		if o.rounds < 1 || o.functions < 1 || o.triggers < o.functions || o.duration <= 0 || o.warmup < 0 {
			return errors.New("-rounds, -functions and -duration must be positive, and -triggers at least -functions")
		}
		return nil
	}, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

// result is one measurement of one scheduler.
type result struct {
	runs    int             // runs of instants in the window
	late    []time.Duration // sorted
	cpu     time.Duration   // this process's CPU in the window
	window  time.Duration
	memory  int64 // heap objects and goroutine stacks over the idle process's
	threads int   // goroutines over the idle process's
	other   float64
}

func (r result) p(q float64) time.Duration { return harness.Percentile(r.late, q) }
func (r result) cores() float64            { return r.cpu.Seconds() / r.window.Seconds() }

type round struct{ edgefn, base result }

func run(ctx context.Context, o options, r *harness.Run) error {
	var client *goredis.Client
	if o.redisURL != "" {
		opts, err := goredis.ParseURL(o.redisURL)
		if err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		opts.PoolSize = max(opts.PoolSize, 64) // as edgefn serve sizes its pool (cmd/edgefn/backends.go)
		client = goredis.NewClient(opts)
		defer client.Close()
		if err := client.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	rounds, err := harness.Rounds(ctx, o.rounds, func(ctx context.Context, n int) (round, error) {
		var rd round
		order := []string{"baseline", "edgefn"}
		if n%2 == 0 {
			slices.Reverse(order)
		}
		for _, who := range order {
			res, other, _, err := harness.Measure(r, fmt.Sprintf("round %d, %s", n, who), func(int) (result, float64, error) {
				if err := r.WaitTurn(ctx); err != nil {
					return result{}, 0, err
				}
				res, err := measure(ctx, o, who == "edgefn", client)
				return res, res.other, err
			})
			if err != nil {
				return rd, err
			}
			res.other = other
			r.Logf("round %d, %s: %d runs, lateness p50 %.2f ms p99 %.2f ms, CPU %.1f%% of a core, memory %.1f MiB",
				n, who, res.runs, harness.Millis(res.p(50)), harness.Millis(res.p(99)), 100*res.cores(), mib(res.memory))
			if who == "edgefn" {
				rd.edgefn = res
			} else {
				rd.base = res
			}
		}
		return rd, nil
	})
	if err != nil {
		return err
	}
	return r.Publish(func() string { return report(r, o, rounds) })
}

// recorder is a no-op function that notes how late each run of an instant in the window
// started.
type recorder struct {
	name     string
	m        *manifest.Function
	from, to time.Time
	mu       sync.Mutex
	late     []time.Duration
}

func (f *recorder) Name() string                 { return f.name }
func (f *recorder) Manifest() *manifest.Function { return f.m }

func (f *recorder) Invoke(_ context.Context, ev *event.Event) (*event.Result, error) {
	f.note(ev.Time)
	return nil, nil
}

func (f *recorder) note(at time.Time) {
	late := time.Since(at)
	if at.Before(f.from) || !at.Before(f.to) {
		return
	}
	f.mu.Lock()
	f.late = append(f.late, late)
	f.mu.Unlock()
}

// functions returns the recorders of the triggers spread over o.functions functions, each
// with its manifest (parsed as a deploy parses it).
func functions(o options, from, to time.Time) ([]*recorder, error) {
	var out []*recorder
	for i := range o.functions {
		n := o.triggers / o.functions
		if i < o.triggers%o.functions {
			n++
		}
		var b strings.Builder
		fmt.Fprintf(&b, "name: sched-%02d\nhandler: /bin/true\ntriggers:\n", i)
		for range n {
			b.WriteString("  - schedule: {cron: '@every 1s'}\n")
		}
		set, err := manifest.Parse("bench.yaml", []byte(b.String()))
		if err != nil {
			return nil, err
		}
		f := set.Functions[0]
		out = append(out, &recorder{name: f.Name, m: f, from: from, to: to, late: make([]time.Duration, 0, n*int(to.Sub(from)/time.Second+1))})
	}
	return out, nil
}

// measure runs one scheduler for the warm-up and the window and returns what it cost.
func measure(ctx context.Context, o options, edgefn bool, client *goredis.Client) (result, error) {
	runtime.GC()
	mem0, g0 := inUse(), runtime.NumGoroutine()
	// The window starts and ends on whole seconds, between two ticks.
	start := time.Now().Add(o.warmup).Truncate(time.Second).Add(time.Second + 500*time.Millisecond)
	from, to := start.Truncate(time.Second).Add(time.Second), start.Add(o.duration).Truncate(time.Second).Add(time.Second)
	fns, err := functions(o, from, to)
	if err != nil {
		return result{}, err
	}
	stop, err := startScheduler(o, edgefn, fns, client)
	if err != nil {
		return result{}, err
	}
	defer stop()
	if !sleepUntil(ctx, start) {
		return result{}, ctx.Err()
	}
	u0 := harness.Snapshot(nil)
	end := start.Add(to.Sub(from))
	if !sleepUntil(ctx, end) {
		return result{}, ctx.Err()
	}
	u := harness.Snapshot(nil).Since(u0)
	runtime.GC()
	res := result{cpu: u.Self, window: end.Sub(start), memory: inUse() - mem0, threads: runtime.NumGoroutine() - g0, other: u.Other()}
	stop()
	for _, f := range fns {
		f.mu.Lock()
		res.late = append(res.late, f.late...)
		f.mu.Unlock()
	}
	res.runs = len(res.late)
	slices.Sort(res.late)
	if want := o.triggers * int(to.Sub(from)/time.Second); res.runs != want {
		return res, fmt.Errorf("%d runs of the window's instants; want %d (a trigger per second)", res.runs, want)
	}
	return res, nil
}

// startScheduler starts edgefn's manager, or the baseline, on fns; stop stops it and waits
// for it (it may be called twice).
func startScheduler(o options, edgefn bool, fns []*recorder, client *goredis.Client) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	if !edgefn {
		var wg sync.WaitGroup
		for _, f := range fns {
			for range f.m.Triggers {
				wg.Go(func() { tickEverySecond(ctx, f) })
			}
		}
		return func() { once.Do(func() { cancel(); wg.Wait() }) }, nil
	}
	var streams triggers.Streams
	var closers []func()
	cfg := dispatch.ManagerConfig{NodeID: "bench"}
	if client != nil {
		name := "schedbench-" + id.New()[:8]
		rs, err := redis.New(client, redis.Options{})
		if err != nil {
			cancel()
			return nil, err
		}
		claims, err := cluster.NewRedisClaims(client, name)
		if err != nil {
			cancel()
			return nil, err
		}
		streams, cfg.Claims, cfg.KeyPrefix = rs, claims, cluster.RedisPrefix(name)
		closers = append(closers, func() {
			keys, _ := client.Keys(context.Background(), cluster.RedisPrefix(name)+"*").Result()
			if len(keys) > 0 {
				client.Del(context.Background(), keys...)
			}
		})
	} else {
		mem := memory.New(memory.Options{})
		streams = mem
		closers = append(closers, func() { mem.Close() })
		cfg.Queues = mem
	}
	if cfg.Queues == nil {
		mem := memory.New(memory.Options{})
		cfg.Queues = mem
		closers = append(closers, func() { mem.Close() })
	}
	cfg.Streams = streams
	cfg.Effects = &dispatch.Effects{Queues: cfg.Queues, Streams: streams}
	m := dispatch.NewManager(cfg)
	list := make([]dispatch.Function, len(fns))
	for i, f := range fns {
		list[i] = f
	}
	go m.Run(ctx)
	m.Update(list)
	return func() {
		once.Do(func() {
			cancel()
			m.Wait()
			for _, c := range closers {
				c()
			}
		})
	}, nil
}

// tickEverySecond is the baseline's trigger: a timer to each whole second, then the call.
func tickEverySecond(ctx context.Context, f *recorder) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := time.Now().Truncate(time.Second).Add(time.Second)
		t.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, _ = f.Invoke(ctx, &event.Event{Time: next})
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// inUse is the bytes of heap objects and goroutine stacks the process holds.
func inUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func report(r *harness.Run, o options, rounds []round) string {
	var b strings.Builder
	b.WriteString(r.Preamble(len(rounds), "round"))
	backend := "the embedded backend"
	if o.redisURL != "" {
		backend = "Redis (claims and run streams)"
	}
	late := func(q float64) (harness.Summary, harness.Summary, harness.Summary) {
		e := harness.PerRound(rounds, func(rd round) float64 { return harness.Millis(rd.edgefn.p(q)) })
		base := harness.PerRound(rounds, func(rd round) float64 { return harness.Millis(rd.base.p(q)) })
		d := harness.PerRound(rounds, func(rd round) float64 { return harness.Millis(rd.edgefn.p(q) - rd.base.p(q)) })
		return e, base, d
	}
	what := fmt.Sprintf("%s `@every 1s` triggers over %d functions, one node, %s", harness.Thousands(float64(o.triggers)), o.functions, backend)
	fmt.Fprintf(&b, "| metric | edgefn | baseline: a goroutine and a timer per trigger, calling the function | ratio or difference | goal | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	e99, b99, d99 := late(99)
	fmt.Fprintf(&b, "| %s: lateness of runs, p99 (ms) | %s | %s | %s | < %d ms | %s |\n", what, e99.Format(2, false), b99.Format(2, false),
		d99.Format(2, true), goal.Milliseconds(), harness.Verdict(e99.Max < harness.Millis(goal)))
	e50, b50, d50 := late(50)
	fmt.Fprintf(&b, "| %s: lateness of runs, p50 (ms) | %s | %s | %s | — | info |\n", what, e50.Format(2, false), b50.Format(2, false), d50.Format(2, true))
	ec := harness.PerRound(rounds, func(rd round) float64 { return 100 * rd.edgefn.cores() })
	bc := harness.PerRound(rounds, func(rd round) float64 { return 100 * rd.base.cores() })
	rc := harness.PerRound(rounds, func(rd round) float64 { return rd.edgefn.cores() / rd.base.cores() })
	fmt.Fprintf(&b, "| %s: CPU (%% of one core) | %s | %s | %s (edgefn ÷ baseline) | — | info |\n", what, ec.Format(1, false), bc.Format(1, false), rc.Format(2, false))
	em := harness.PerRound(rounds, func(rd round) float64 { return mib(rd.edgefn.memory) })
	bm := harness.PerRound(rounds, func(rd round) float64 { return mib(rd.base.memory) })
	dm := harness.PerRound(rounds, func(rd round) float64 { return mib(rd.edgefn.memory - rd.base.memory) })
	fmt.Fprintf(&b, "| %s: memory, heap and stacks in use after a GC (MiB) | %s | %s | %s | — | info |\n\n", what, em.Format(1, false), bm.Format(1, false), dm.Format(1, true))
	fmt.Fprintf(&b, "Lateness is the time from a tick's instant to the call of the function, for every run of the "+
		"window's %s instants of every trigger; the result compares the worst round with the goal. CPU is this process's "+
		"over the window (the functions are in-process no-ops, so it is the scheduler's); memory is heap objects and "+
		"goroutine stacks after a GC at the end of the window, over the idle process's, and includes the run streams' "+
		"entries the embedded backend keeps. Cells are the median over the rounds, with the lowest and highest round "+
		"in parentheses. %s.\n\n", o.duration, r.Retried())
	b.WriteString("| round | scheduler | runs | lateness p50, p99, max (ms) | CPU (% of a core) | memory (MiB) | goroutines | other load |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, rd := range rounds {
		for _, x := range []struct {
			name string
			res  result
		}{{"baseline", rd.base}, {"edgefn", rd.edgefn}} {
			res := x.res
			fmt.Fprintf(&b, "| %d | %s | %d | %.2f, %.2f, %.2f | %.1f | %.1f | %d | %s |\n", i+1, x.name, res.runs,
				harness.Millis(res.p(50)), harness.Millis(res.p(99)), harness.Millis(res.p(100)), 100*res.cores(),
				mib(res.memory), res.threads, r.OtherLoad(res.other))
		}
	}
	return b.String()
}
