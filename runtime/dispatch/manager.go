package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
)

// Function is a deployed function as the manager sees it (runtime.Function implements it).
type Function interface {
	Invoker
	Name() string
	Manifest() *manifest.Function
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Queues  triggers.Queues
	Streams triggers.Streams
	Effects *Effects
	// Async runs async HTTP invocations; nil runs none.
	Async AsyncRunner
	// NodeID makes stream consumer names unique across gateway nodes.
	NodeID string
	Logger *slog.Logger
	// Meter creates the triggers' instruments; nil records nothing.
	Meter metric.Meter
	// Claims decide which node runs each instant of the schedule triggers, and keep their
	// pauses and last instants; nil: this node alone runs them (MemoryClaims).
	Claims ScheduleStore
	// KeyPrefix is the cluster's prefix of the streams that carry schedule runs
	// (ScheduleStreams); default "edgefn:cluster:edgefn:", the default cluster's.
	KeyPrefix string
}

// Manager runs a Consumer for every queue and stream trigger of the deployed functions, and a
// Scheduler for every schedule trigger.
// Update hands it the current functions; it starts what is new, stops what is gone, and keeps
// running the consumers whose trigger did not change (they always invoke the function's
// current version). A consumer whose source cannot be opened (a broker is down) is tried again
// with backoff and reported by NotReady meanwhile.
type Manager struct {
	cfg     ManagerConfig
	updates chan snapshot
	seq     atomic.Int64

	mu       sync.Mutex
	running  map[string]*running
	failing  map[string]string // key → label and last error, for NotReady
	stopping bool
	// updates counts Update calls and reconciled the one the last reconcile finished, so
	// NotReady can tell that triggers are still starting.
	updated, reconciled int64
	// schedStats are the schedule counters of each function with schedule triggers.
	schedStats map[string]*ScheduleStats
	// clock fires the instants of every schedule trigger; Run runs it.
	clock *Clock

	done chan struct{}
}

// snapshot is the functions of one Update, numbered.
type snapshot struct {
	fns []Function
	seq int64
}

type running struct {
	cancel   context.CancelFunc
	done     chan struct{}
	consumer *Consumer  // nil for a schedule
	schedule *Scheduler // nil for a consumer
	label    string
}

// binding is one queue, stream or schedule trigger of one function.
type binding struct {
	key   string
	label string
	fn    Function
	m     *manifest.Function
	t     manifest.Trigger
	index int  // t's place in the function's triggers
	async bool // the function's async HTTP invocations, not t
	runs  bool // the function's schedule runs, not t
}

// NewManager wires a manager; Run starts it.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NodeID == "" {
		cfg.NodeID = id.New()[:8]
	}
	if cfg.Claims == nil {
		cfg.Claims = NewMemoryClaims()
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "edgefn:cluster:edgefn:"
	}
	m := &Manager{cfg: cfg, updates: make(chan snapshot, 1), running: map[string]*running{},
		failing: map[string]string{}, schedStats: map[string]*ScheduleStats{}, done: make(chan struct{}),
		clock: NewClock(time.Now, cfg.Logger)}
	if cfg.Meter != nil {
		if err := m.instrument(cfg.Meter); err != nil {
			cfg.Logger.Error("trigger metrics unavailable", "error", err)
		}
	}
	return m
}

// Update hands the manager the deployed functions. It does not block; the latest call wins.
func (m *Manager) Update(fns []Function) {
	m.mu.Lock()
	m.updated++
	snap := snapshot{fns: fns, seq: m.updated}
	m.mu.Unlock()
	for {
		select {
		case m.updates <- snap:
			return
		default:
		}
		select {
		case <-m.updates: // drop the older snapshot
		default:
		}
	}
}

// Run reconciles until ctx ends, then stops every consumer, letting the deliveries being
// handled finish.
func (m *Manager) Run(ctx context.Context) {
	defer close(m.done)
	clockDone := make(chan struct{})
	go func() { defer close(clockDone); m.clock.Run(ctx) }()
	defer func() { <-clockDone }()
	var current snapshot
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	backoff := 500 * time.Millisecond
	for {
		select {
		case current = <-m.updates:
			backoff = 500 * time.Millisecond
		case <-retry.C:
			backoff = min(backoff*2, 15*time.Second)
		case <-ctx.Done():
			m.stopAll()
			return
		}
		failed := m.reconcile(ctx, current.fns)
		m.mu.Lock()
		m.reconciled = max(m.reconciled, current.seq)
		m.mu.Unlock()
		if failed {
			retry.Reset(backoff)
		}
	}
}

// Wait blocks until Run has returned and every consumer has stopped.
func (m *Manager) Wait() { <-m.done }

// reconcile starts and stops consumers to match fns; it reports whether some could not start.
func (m *Manager) reconcile(ctx context.Context, fns []Function) (failed bool) {
	want := map[string]binding{}
	for _, f := range fns {
		mf := f.Manifest()
		if mf == nil {
			continue
		}
		for i, t := range mf.Triggers {
			if t.Queue == nil && t.Stream == nil && t.Schedule == nil {
				continue
			}
			b := binding{fn: f, m: mf, t: t, index: i, key: bindingKey(mf, i, t), label: label(mf.Name, t)}
			want[b.key] = b
		}
		if key := runsKey(mf); key != "" { // the runs of its schedules
			want[key] = binding{fn: f, m: mf, runs: true, key: key, label: mf.Name + ": schedule runs"}
		}
		if m.cfg.Async != nil { // any function can be invoked asynchronously (edgefn invoke --async)
			b := binding{fn: f, m: mf, async: true, key: fmt.Sprintf("%s|async|%s|%d", mf.Name, mf.Timeout, mf.Concurrency),
				label: mf.Name + ": async calls"}
			want[b.key] = b
		}
	}
	m.mu.Lock()
	var stop []*running
	for key, r := range m.running {
		if _, ok := want[key]; !ok {
			stop = append(stop, r)
			delete(m.running, key)
		}
	}
	for key := range m.failing {
		if _, ok := want[key]; !ok {
			delete(m.failing, key)
		}
	}
	scheduled := map[string]bool{}
	for _, b := range want {
		scheduled[b.m.Name] = scheduled[b.m.Name] || b.runs
	}
	for fn := range m.schedStats {
		if !scheduled[fn] {
			delete(m.schedStats, fn)
		}
	}
	m.mu.Unlock()
	for _, r := range stop {
		r.cancel()
		<-r.done
		m.cfg.Logger.Info("trigger stopped", "trigger", r.label)
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		m.mu.Lock()
		_, ok := m.running[key]
		m.mu.Unlock()
		if ok {
			continue
		}
		if err := m.start(ctx, want[key]); err != nil {
			failed = true
			m.mu.Lock()
			m.failing[key] = want[key].label + ": " + err.Error()
			m.mu.Unlock()
			m.cfg.Logger.Error("trigger did not start; retrying", "trigger", want[key].label, "error", err)
		}
	}
	return failed
}

// start opens the binding's source and runs its consumer, or runs its scheduler.
func (m *Manager) start(ctx context.Context, b binding) error {
	if b.t.Schedule != nil {
		m.startSchedule(b)
		return nil
	}
	if b.runs {
		return m.startRuns(ctx, b)
	}
	octx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cfg := ConsumerConfig{Function: b.m.Name, Timeout: b.m.Timeout, Logger: m.cfg.Logger}
	var src triggers.Source
	var err error
	switch {
	case b.async:
		// The function's retry defaults apply (docs/async.md): HTTP triggers name none.
		queue := m.cfg.Async.Queue(b.m.Name)
		cfg.EventSource, cfg.Retries, cfg.Backoff, cfg.Async = "async", manifest.DefaultRetries, manifest.DefaultBackoff, m.cfg.Async
		cfg.Concurrency = min(b.m.Concurrency, 64)
		src, err = m.cfg.Queues.ConsumeQueue(octx, triggers.QueueOptions{Queue: queue, Prefetch: cfg.Concurrency})
	case b.t.Queue != nil:
		q := b.t.Queue
		cfg.EventSource, cfg.Retries, cfg.Backoff, cfg.Filter, cfg.Concurrency = "queue/"+q.Name, q.Retries, q.Backoff, q.Filter, q.Prefetch
		src, err = m.cfg.Queues.ConsumeQueue(octx, triggers.QueueOptions{
			Queue: q.Name, Prefetch: q.Prefetch, DeadLetter: q.DeadLetter, MaxPriority: q.MaxPriority})
	case b.t.Stream != nil:
		s := b.t.Stream
		cfg.EventSource, cfg.Retries, cfg.Backoff, cfg.Filter = "stream/"+s.Name, s.Retries, s.Backoff, s.Filter
		// Up to two batches of 128 entries in flight: one read while the other runs.
		cfg.Concurrency = min(b.m.Concurrency, 256)
		src, err = m.cfg.Streams.ConsumeStream(octx, triggers.StreamOptions{
			Stream: s.Name, Group: s.Group, FromOldest: s.From == "oldest", DeadLetter: s.DeadLetter,
			Consumer:   fmt.Sprintf("%s/%s/%d", m.cfg.NodeID, b.m.Name, m.seq.Add(1)),
			ClaimAfter: b.m.Timeout + 5*time.Second,
		})
	}
	if err != nil {
		return err
	}
	m.run(b, NewConsumer(cfg, src, b.fn, m.cfg.Effects))
	return nil
}

// run runs c for the binding b until b is stopped, and notes it as running.
func (m *Manager) run(b binding, c *Consumer) {
	rctx, rcancel := context.WithCancel(context.Background())
	r := &running{cancel: rcancel, done: make(chan struct{}), consumer: c, label: b.label}
	go func() { defer close(r.done); c.Run(rctx) }()
	m.mu.Lock()
	m.running[b.key] = r
	delete(m.failing, b.key)
	m.mu.Unlock()
	m.cfg.Logger.Info("trigger started", "trigger", b.label)
}

// startSchedule runs the scheduler of a schedule binding.
func (m *Manager) startSchedule(b binding) {
	runs, _ := ScheduleStreams(m.cfg.KeyPrefix, b.m.Name)
	s := NewScheduler(ScheduleConfig{Function: b.m.Name, Index: b.index, Trigger: b.t.Schedule, Timeout: b.m.Timeout,
		Store: m.cfg.Claims, Streams: m.cfg.Streams, Runs: runs, Stats: m.scheduleStats(b.m.Name),
		NodeID: m.cfg.NodeID, Logger: m.cfg.Logger})
	rctx, rcancel := context.WithCancel(context.Background())
	m.clock.Add(rctx, s)
	r := &running{done: make(chan struct{}), schedule: s, label: b.label}
	r.cancel = func() { // called once, by reconcile or stopAll
		rcancel()
		m.clock.Remove(s)
		close(r.done)
	}
	m.mu.Lock()
	m.running[b.key] = r
	delete(m.failing, b.key)
	m.mu.Unlock()
	m.cfg.Logger.Info("trigger started", "trigger", b.label)
}

func (m *Manager) stopAll() {
	m.mu.Lock()
	m.stopping = true
	rs := make([]*running, 0, len(m.running))
	for _, r := range m.running {
		rs = append(rs, r)
	}
	m.running = map[string]*running{}
	m.mu.Unlock()
	for _, r := range rs {
		r.cancel()
	}
	for _, r := range rs {
		<-r.done
	}
}

// NotReady lists the triggers whose consumer could not start, with why, and says so while
// the consumers of the latest Update are still being started.
func (m *Manager) NotReady() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	if m.reconciled < m.updated {
		out = append(out, "triggers: starting the consumers of the latest deploy")
	}
	for _, msg := range m.failing {
		out = append(out, "trigger "+msg)
	}
	sort.Strings(out)
	return out
}

// TriggerStats is one running trigger's counters.
type TriggerStats struct {
	Trigger                                         string
	Handled, Skipped, Retried, DeadLettered, Errors int64
}

// Stats returns the counters of every running trigger.
func (m *Manager) Stats() []TriggerStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TriggerStats, 0, len(m.running))
	for _, r := range m.running {
		if r.consumer == nil {
			continue // a schedule: edgefn_schedule_runs_total counts its runs
		}
		s := &r.consumer.Stats
		out = append(out, TriggerStats{Trigger: r.label, Handled: s.Handled.Load(), Skipped: s.Skipped.Load(),
			Retried: s.Retried.Load(), DeadLettered: s.DeadLettered.Load(), Errors: s.FilterErrors.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Trigger < out[j].Trigger })
	return out
}

// bindingKey identifies a trigger by everything that shapes its consumer, so that a deploy
// that changes none of it keeps the consumer running.
func bindingKey(m *manifest.Function, index int, t manifest.Trigger) string {
	if s := t.Schedule; s != nil {
		return fmt.Sprintf("%s|schedule|%d|%s|%s|%s|%t|%d|%s|%d|%s", m.Name, index, s.Cron, s.Timezone, s.Data, s.Overlap,
			s.Retries, s.Backoff, s.CatchUp, m.Timeout)
	}
	if q := t.Queue; q != nil {
		return fmt.Sprintf("%s|queue|%s|%d|%d|%s|%s|%d|%s|%s", m.Name, q.Name, q.Prefetch, q.Retries, q.Backoff,
			q.DeadLetter, q.MaxPriority, q.Filter.String(), m.Timeout)
	}
	s := t.Stream
	return fmt.Sprintf("%s|stream|%s|%s|%s|%d|%s|%s|%s|%s|%d", m.Name, s.Name, s.Group, s.From, s.Retries, s.Backoff,
		s.DeadLetter, s.Filter.String(), m.Timeout, m.Concurrency)
}

func label(function string, t manifest.Trigger) string {
	if t.Queue != nil {
		return fmt.Sprintf("%s: queue %s", function, t.Queue.Name)
	}
	if t.Schedule != nil {
		return fmt.Sprintf("%s: schedule %s (%s)", function, t.Schedule.Cron, t.Schedule.Timezone)
	}
	return fmt.Sprintf("%s: stream %s (group %s)", function, t.Stream.Name, t.Stream.Group)
}
