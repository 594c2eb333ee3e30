package runtime

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// restarts counts a function's plugin processes restarted after they died, by why they died
// (edgefn_plugin_restarts_total{reason}, docs/observability.md).
type restarts struct {
	crash  atomic.Int64 // it exited or was killed
	memory atomic.Int64 // the kernel killed it over its memory limit
}

func (r *restarts) total() int64 { return r.crash.Load() + r.memory.Load() }

// Function is a deployed function under its name. It stays the same across versions, so the
// gateway's route table can point at it; Invoke always goes to the current version.
type Function struct {
	name    string
	logs    *Logs
	current atomic.Pointer[version]

	invocations atomic.Int64
	failures    atomic.Int64
	restarts    restarts
	// backlogs are the messages waiting in each queue or stream trigger, as their consumers
	// report them (SetBacklog); the scaler counts them as load.
	backlogMu sync.Mutex
	backlogs  map[string]int64

	meters *meters
	series series
	attrs  attribute.Set // {function}
	// restartAttrs are {function, reason} of the restart counter: crash, memory.
	restartAttrs [2]attribute.Set
	// stateAttrs are {function, state} of edgefn_instances: starting, ready, draining.
	stateAttrs [3]attribute.Set
	spanName   string
}

func newFunction(name string, logs *Logs, m *meters) *Function {
	fn := attribute.String("function", name)
	return &Function{name: name, logs: logs, meters: m, spanName: "invoke " + name,
		attrs: attribute.NewSet(fn),
		restartAttrs: [2]attribute.Set{
			attribute.NewSet(fn, attribute.String("reason", "crash")),
			attribute.NewSet(fn, attribute.String("reason", "memory")),
		},
		stateAttrs: [3]attribute.Set{
			attribute.NewSet(fn, attribute.String("state", "starting")),
			attribute.NewSet(fn, attribute.String("state", "ready")),
			attribute.NewSet(fn, attribute.String("state", "draining")),
		}}
}

// Name returns the function's name.
func (f *Function) Name() string { return f.name }

// Logs returns the function's output.
func (f *Function) Logs() *Logs { return f.logs }

// Manifest returns the current version's manifest, or nil once the function is deleted.
func (f *Function) Manifest() *manifest.Function {
	if v := f.current.Load(); v != nil {
		return v.manifest
	}
	return nil
}

// Invoke runs ev on the current version: a batch of one (see InvokeBatch).
func (f *Function) Invoke(ctx context.Context, ev *event.Event) (*event.Result, error) {
	one := ones.Get().(*single)
	one.ev[0] = ev
	f.invoke(ctx, one.ev[:], one.out[:], nil)
	res, err := one.out[0].res, one.out[0].err
	*one = single{}
	ones.Put(one)
	return res, err
}

// single is the batch of one a call is; ones recycles them, so that a call makes no slices.
type single struct {
	ev  [1]*event.Event
	out [1]outcome
}

var ones = sync.Pool{New: func() any { return new(single) }}

// InvokeBatch runs evs on the current version as one batch and returns each event's result
// and error, in order. The events share the function's deadline; the plugin runs them
// concurrently (a plugin built before batches existed gets them one by one). parents, when
// not nil, holds each event's own context, whose span its invocation span is a child of
// (each message of a stream has its own trace); ctx's deadline and values rule the batch.
func (f *Function) InvokeBatch(ctx context.Context, evs []*event.Event, parents []context.Context) ([]*event.Result, []error) {
	if len(evs) == 0 {
		return nil, nil
	}
	out := make([]outcome, len(evs))
	f.invoke(ctx, evs, out, parents)
	results, errs := make([]*event.Result, len(out)), make([]error, len(out))
	for k, o := range out {
		results[k], errs[k] = o.res, o.err
	}
	return results, errs
}

// invoke is the one way into a version's chain, for a call and a batch alike: each event gets
// its invocation span (under parents[k], or else ctx) and is counted with its own outcome;
// the batch holds the current version and goes through its chain once.
func (f *Function) invoke(ctx context.Context, evs []*event.Event, out []outcome, parents []context.Context) {
	for k, ev := range evs {
		parent := ctx
		if parents != nil && parents[k] != nil {
			parent = parents[k]
		}
		ectx, span := f.startInvoke(parent, ev)
		out[k].span, out[k].traceparent = span, tracectx.Traceparent(ectx)
	}
	if v, err := f.hold(); err != nil {
		fillOutcomes(out, nil, err)
		f.record(ctx, out, 0)
	} else {
		f.invocations.Add(int64(len(evs)))
		start := time.Now()
		v.chain.invoke(ctx, evs, out)
		v.release()
		took := time.Since(start)
		if v.pool != nil { // nil in tests of the chain alone
			v.pool.usage.done(len(evs), took)
		}
		f.record(ctx, out, took)
		for _, o := range out {
			if countsAsFailure(o.err) {
				f.failures.Add(1)
			}
		}
	}
	for _, o := range out {
		endInvoke(o.span, o.err)
	}
}

var _ Invoker = (*Function)(nil)

// hold returns the current version with a hold on it for one invocation (or batch), or
// ErrNotFound once the function is deleted.
func (f *Function) hold() (*version, error) {
	for {
		v := f.current.Load()
		if v == nil {
			return nil, ErrNotFound
		}
		if v.acquire() {
			return v, nil
		}
		// v is draining: a newer version was published before it started to, or the
		// function was deleted; load again.
		if f.current.Load() == v {
			return nil, ErrNotFound
		}
	}
}

// Ready reports whether the current version has a process that can take work, or can start
// one for it: it is scaled to zero (docs/manifest.md, "Scaling").
func (f *Function) Ready() bool {
	v := f.current.Load()
	return v != nil && (v.pool.readyCount() > 0 || v.pool.canWake())
}

// CanRun returns the error a call made now would fail with before reaching the function:
// ErrNotFound, ErrNotReady, or ErrCircuitOpen. An async call checks it before answering 202.
func (f *Function) CanRun() error {
	v := f.current.Load()
	switch {
	case v == nil:
		return ErrNotFound
	case v.pool.readyCount() == 0 && !v.pool.canWake():
		return ErrNotReady
	case v.breaker.State() == BreakerOpen:
		return ErrCircuitOpen
	}
	return nil
}

// Scales reports whether the current version's process count follows its load (a manifest's
// `scale:` with min below max): only then does its backlog matter (SetBacklog).
func (f *Function) Scales() bool {
	v := f.current.Load()
	return v != nil && !v.manifest.Scale.Fixed()
}

// SetBacklog records how many messages wait for the function in the trigger source (its
// edgefn_trigger_lag): the scaler adds them to the load, so that a backlog brings processes
// before they would show as invocations in flight (docs/manifest.md, "Scaling").
func (f *Function) SetBacklog(source string, n int64) {
	f.backlogMu.Lock()
	defer f.backlogMu.Unlock()
	if f.backlogs == nil {
		f.backlogs = make(map[string]int64)
	}
	if n <= 0 {
		delete(f.backlogs, source)
		return
	}
	f.backlogs[source] = n
}

// backlog is the sum of the backlogs the triggers reported.
func (f *Function) backlog() int {
	f.backlogMu.Lock()
	defer f.backlogMu.Unlock()
	var n int64
	for _, b := range f.backlogs {
		n += b
	}
	return int(n)
}

// Info is a function's state, as the admin API reports it.
type Info struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	State   string `json:"state"`
	// Instances is how many plugin processes run or start now; Ready, how many of them can
	// take work. Min and Max are the manifest's bounds (equal unless it scales).
	Instances   int       `json:"instances"`
	Ready       int       `json:"ready"`
	Min         int       `json:"min"`
	Max         int       `json:"max"`
	Triggers    []string  `json:"triggers"`
	DeployedAt  time.Time `json:"deployedAt"`
	Invocations int64     `json:"invocations"`
	Failures    int64     `json:"failures"`
	Inflight    int       `json:"inflight"`
	Restarts    int64     `json:"restarts"`
	Breaker     string    `json:"breaker"`
	// Runtime is the Go runtime settings the function's plugins run with: each variable the
	// host adds to every plugin (Config.PluginEnv), with the manifest's value where its env
	// sets one. The rest of the manifest's env is not shown: it may hold secrets.
	Runtime map[string]string `json:"runtime,omitempty"`
	// Sandbox says how the function's processes are confined and limited (docs/security.md).
	Sandbox string `json:"sandbox,omitempty"`
	// StartError is why the last start of a process failed, until one succeeds: a binary
	// changed since its deploy among others.
	StartError string `json:"startError,omitempty"`
	// RegistryError, with a shared registry (docs/cluster.md), is why this node does not run
	// the registry's current version: its binary does not match its sha256, its entry does
	// not decode, it does not start. The version that ran before keeps running, if any.
	RegistryError string `json:"registryError,omitempty"`
}

// Info returns a snapshot of the function's state.
func (f *Function) Info() Info {
	info := Info{Name: f.name, State: "deleted", Invocations: f.invocations.Load(),
		Failures: f.failures.Load(), Restarts: f.restarts.total()}
	v := f.current.Load()
	if v == nil {
		return info
	}
	info.Version = v.number
	info.Instances = int(v.pool.want.Load())
	info.Ready = v.pool.readyCount()
	info.Min, info.Max = v.manifest.Scale.Min, v.manifest.Scale.Max
	info.DeployedAt = v.created
	info.Inflight = v.limit.inflight()
	info.Breaker = v.breaker.State()
	info.Triggers = describeTriggers(v.manifest)
	info.Runtime = runtimeEnv(v.pool.spec.BaseEnv, v.manifest.Env)
	info.Sandbox = v.pool.isolation()
	info.StartError = v.pool.startError()
	switch {
	case info.Breaker == BreakerOpen:
		info.State = "failing"
	case info.Instances == 0 && info.StartError == "":
		info.State = "idle"
	case info.Ready == info.Instances:
		info.State = "ready"
	case info.Ready > 0:
		info.State = "degraded"
	default:
		info.State = "starting"
	}
	return info
}

func describeTriggers(m *manifest.Function) []string {
	out := make([]string, 0, len(m.Triggers))
	for _, t := range m.Triggers {
		switch {
		case t.HTTP != nil:
			out = append(out, "http "+t.HTTP.Method+" "+t.HTTP.Path)
		case t.Queue != nil:
			out = append(out, "queue "+t.Queue.Name)
		case t.Stream != nil:
			out = append(out, "stream "+t.Stream.Name)
		case t.WebSocket != nil:
			out = append(out, t.WebSocket.String())
		case t.Schedule != nil:
			out = append(out, "schedule "+t.Schedule.Cron+" ("+t.Schedule.Timezone+")")
		}
	}
	return out
}

// runtimeEnv is Info.Runtime: the variables of base, valued as a plugin sees them.
func runtimeEnv(base, env map[string]string) map[string]string {
	if len(base) == 0 {
		return nil
	}
	out := make(map[string]string, len(base))
	for k, v := range base {
		if mv, set := env[k]; set {
			v = mv
		}
		out[k] = v
	}
	return out
}
