// Command schedbench measures the schedule triggers of one edgefn node: -triggers `@every 1s`
// triggers (1,000 by default) spread over -functions functions (20), run by the trigger
// manager (runtime/dispatch) on the embedded backend, as `edgefn serve` without --redis runs
// them, and on Redis (claims and run streams) as a node of a cluster does, unless -redis is
// empty, for functions that return at once. It reports the scheduler's CPU, its memory (heap and goroutine stacks in use, after a
// GC, over what the process held before it started) and how late the runs start: from the
// tick's instant to the call of the function, every run of the measured window counted.
//
// The baseline, measured in the same rounds and the same process, is the least a scheduler
// can do: a goroutine and a timer per trigger that calls the function itself at each whole
// second, with no claim, no run stream, no retries and no run lock. The function is an
// in-process no-op in both, so that what is measured is the scheduler, not a plugin process.
//
// Each round measures the baseline, edgefn and edgefn on Redis one after the other (the order
// turns from round to round), each for -warmup then -duration. It reports the median over the rounds with the
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
	"log/slog"
	"os"
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
	flag.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL for the measurement on Redis; empty: none")
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

// round is one round's results, by scheduler: "baseline", "edgefn" and "redis".
type round map[string]result

// modes are the schedulers measured, in the first round's order.
func (o options) modes() []string {
	if o.redisURL == "" {
		return []string{"baseline", "edgefn"}
	}
	return []string{"baseline", "edgefn", "redis"}
}

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
		rd := round{}
		order := o.modes()
		for range n - 1 {
			order = append(order[1:], order[0])
		}
		for _, who := range order {
			res, other, _, err := harness.Measure(r, fmt.Sprintf("round %d, %s", n, who), func(int) (result, float64, error) {
				if err := r.WaitTurn(ctx); err != nil {
					return result{}, 0, err
				}
				var c *goredis.Client
				if who == "redis" {
					c = client
				}
				res, err := measure(ctx, o, who != "baseline", c)
				return res, res.other, err
			})
			if err != nil {
				return rd, err
			}
			res.other = other
			r.Logf("round %d, %s: %d runs, lateness p50 %.2f ms p99 %.2f ms, CPU %.1f%% of a core, memory %.1f MiB",
				n, who, res.runs, harness.Millis(res.p(50)), harness.Millis(res.p(99)), 100*res.cores(), mib(res.memory))
			rd[who] = res
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
	// Warnings and errors only: a thousand "trigger started" lines say nothing.
	cfg := dispatch.ManagerConfig{NodeID: "bench", Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
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
		claims.AppendRuns(rs) // as edgefn serve does (cmd/edgefn/serve.go)
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
	fmt.Fprintf(&b, "| metric | edgefn | baseline: a goroutine and a timer per trigger, calling the function | ratio or difference | goal | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	for _, mode := range o.modes()[1:] {
		what := fmt.Sprintf("%s `@every 1s` triggers over %d functions, one node, embedded", harness.Thousands(float64(o.triggers)), o.functions)
		if mode == "redis" {
			what = strings.Replace(what, "embedded", "on Redis (claims, run streams)", 1)
		}
		per := func(f func(e, base result) float64) harness.Summary {
			return harness.PerRound(rounds, func(rd round) float64 { return f(rd[mode], rd["baseline"]) })
		}
		late := func(q float64, goalCell string) {
			e := per(func(e, _ result) float64 { return harness.Millis(e.p(q)) })
			base := per(func(_, b result) float64 { return harness.Millis(b.p(q)) })
			d := per(func(e, b result) float64 { return harness.Millis(e.p(q) - b.p(q)) })
			verdict := "info"
			if goalCell != "—" {
				verdict = harness.Verdict(e.Max < harness.Millis(goal))
			}
			fmt.Fprintf(&b, "| %s: lateness of runs, p%g (ms) | %s | %s | %s | %s | %s |\n", what, q, e.Format(2, false), base.Format(2, false),
				d.Format(2, true), goalCell, verdict)
		}
		late(99, fmt.Sprintf("< %d ms", goal.Milliseconds()))
		late(50, "—")
		ec := per(func(e, _ result) float64 { return 100 * e.cores() })
		bc := per(func(_, b result) float64 { return 100 * b.cores() })
		rc := per(func(e, b result) float64 { return e.cores() / b.cores() })
		fmt.Fprintf(&b, "| %s: CPU (%% of one core) | %s | %s | %s (edgefn ÷ baseline) | — | info |\n", what, ec.Format(1, false), bc.Format(1, false), rc.Format(2, false))
		em := per(func(e, _ result) float64 { return mib(e.memory) })
		bm := per(func(_, b result) float64 { return mib(b.memory) })
		dm := per(func(e, b result) float64 { return mib(e.memory - b.memory) })
		fmt.Fprintf(&b, "| %s: memory, heap and stacks in use after a GC (MiB) | %s | %s | %s | — | info |\n", what, em.Format(1, false), bm.Format(1, false), dm.Format(1, true))
	}
	fmt.Fprintf(&b, "\nLateness is the time from a tick's instant to the call of the function, for every run of the "+
		"window's %s of instants of every trigger; the result compares the worst round with the goal. CPU is this process's "+
		"over the window (the functions are in-process no-ops, so it is the scheduler's; on Redis, Redis' own CPU is not "+
		"counted); memory is heap objects and goroutine stacks after a GC at the end of the window, over the idle "+
		"process's, and includes the run streams' entries the embedded backend keeps. Cells are the median over the "+
		"rounds, with the lowest and highest round in parentheses. %s.\n\n", o.duration, r.Retried())
	b.WriteString("| round | scheduler | runs | lateness p50, p99, max (ms) | CPU (% of a core) | memory (MiB) | goroutines | other load |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, rd := range rounds {
		for _, mode := range o.modes() {
			res := rd[mode]
			fmt.Fprintf(&b, "| %d | %s | %d | %.2f, %.2f, %.2f | %.1f | %.1f | %d | %s |\n", i+1, mode, res.runs,
				harness.Millis(res.p(50)), harness.Millis(res.p(99)), harness.Millis(res.p(100)), 100*res.cores(),
				mib(res.memory), res.threads, r.OtherLoad(res.other))
		}
	}
	return b.String()
}
