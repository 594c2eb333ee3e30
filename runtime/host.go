package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/metric"

	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/runtime/sandbox"
)

// Config configures a Host. Zero values mean the defaults given.
type Config struct {
	// DataDir holds deployed versions; default ".edgefn".
	DataDir string
	// Logger receives the runtime's and the functions' log lines; default slog.Default().
	Logger *slog.Logger
	// StartTimeout bounds a plugin process's start and handshake; default 10s.
	StartTimeout time.Duration
	// Drain bounds how long a replaced version may finish its in-flight work; default 30s.
	Drain time.Duration
	// OnChange is called, with every deployed function, after a deploy, rollback or delete has
	// changed what is current. The gateway rebuilds its route table there. Calls are serialized.
	OnChange func(fns []*Function)
	// Meter creates the runtime's instruments (docs/observability.md); nil records nothing.
	Meter metric.Meter
	// PluginEnv is added to the environment of every plugin process, under the manifest's
	// env, which wins where both name a variable: the Go runtime settings `edgefn serve` gives
	// its plugins (docs/runtime.md). A plugin sees nothing else of the gateway's environment.
	PluginEnv map[string]string
	// Sandbox confines every plugin process but those of `sandbox: off` manifests
	// (docs/security.md); nil confines none.
	Sandbox *sandbox.Sandbox
	// LogSink, when set, gets every line the functions write, beside each function's own
	// ring: the cluster's log (docs/cluster.md#logs).
	LogSink LogSink
	// MaxInstances bounds the plugin processes of the node that scaling starts
	// (docs/manifest.md, "Scaling"); default sized from the machine's memory.
	MaxInstances int
	// Registerer, when set, gets the collector of the invocation series
	// (edgefn_invocations_total, edgefn_invocation_duration_seconds).
	Registerer prometheus.Registerer
}

// Host deploys, keeps and stops functions. Deploys, rollbacks and deletes are serialized;
// invocations never wait for them.
type Host struct {
	cfg      Config
	store    *store
	binaries *binaries

	mu  sync.Mutex // serializes changes and guards fns
	fns map[string]*Function
	// all is fns sorted, swapped on every change: readers that must not wait for a deploy
	// (the metrics) take it.
	all    atomic.Pointer[[]*Function]
	meters *meters
	scaler *scaler
	// stopScaler ends the scaler's loop (Close).
	stopScaler context.CancelFunc

	drains sync.WaitGroup
}

// NewHost validates cfg and prepares the data directory.
func NewHost(cfg Config) (*Host, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = ".edgefn"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 30 * time.Second
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = defaultMaxInstances()
	}
	st, err := newStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, store: st, binaries: newBinaries(), fns: make(map[string]*Function)}
	h.all.Store(&[]*Function{})
	if h.meters, err = newMeters(cfg.Meter, h); err != nil {
		return nil, fmt.Errorf("runtime metrics: %w", err)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(collector{h}); err != nil {
			return nil, fmt.Errorf("runtime metrics: %w", err)
		}
	}
	h.scaler = newScaler(cfg.MaxInstances, cfg.Logger, h.meters.scaleEvents)
	ctx, cancel := context.WithCancel(context.Background())
	h.stopScaler = cancel
	go h.scaler.run(ctx)
	return h, nil
}

// functions returns every deployed function without waiting for a change in progress.
func (h *Host) functions() []*Function { return *h.all.Load() }

// DeployResult says what a deploy did.
type DeployResult struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Unchanged is true when the manifest and binary equal the current version's, which keeps
	// running.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Deploy starts m as a new version of its function, with the plugin binary at binary (the
// manifest's Handler when empty), which is copied into the data directory. The new version's
// processes are ready before it takes traffic; the version it replaces drains in the
// background. Nothing changes when it fails.
func (h *Host) Deploy(ctx context.Context, m *manifest.Function, binary string) (DeployResult, error) {
	return h.DeployWith(ctx, m, binary, "", ChangeOptions{})
}

// DeployStaged is Deploy for a binary already in the data directory whose sum (NewSum) the
// caller computed while writing it (an upload): it is moved into place rather than read again.
func (h *Host) DeployStaged(ctx context.Context, m *manifest.Function, binary, sum string) (DeployResult, error) {
	return h.deploy(ctx, m, binary, sum, ChangeOptions{})
}

// DeployWith is Deploy with options; sum, when not empty, is the binary's sum (NewSum) known
// from an upload, and the binary is moved into place rather than copied.
func (h *Host) DeployWith(ctx context.Context, m *manifest.Function, binary, sum string, o ChangeOptions) (DeployResult, error) {
	if binary == "" {
		binary = m.Handler
	}
	if binary == "" {
		return DeployResult{}, fmt.Errorf("deploy %s: no binary (a build manifest must be built first)", m.Name)
	}
	return h.deploy(ctx, m, binary, sum, o)
}

func (h *Host) deploy(ctx context.Context, m *manifest.Function, binary, staged string, o ChangeOptions) (DeployResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := o.check(m.Name, h.currentNumber(m.Name)); err != nil {
		return DeployResult{}, err
	}
	if err := h.checkConflicts(m); err != nil {
		return DeployResult{}, err
	}
	n := 1
	if vs := h.store.versions(m.Name); len(vs) > 0 {
		n = vs[len(vs)-1] + 1
	}
	path, sum, err := h.store.save(m.Name, n, m.File, m.Source, binary, staged)
	if err != nil {
		return DeployResult{}, err
	}
	drop := func() { os.RemoveAll(filepath.Dir(path)) }
	if m.SHA256 != "" && sum != m.SHA256 {
		drop()
		return DeployResult{}, fmt.Errorf("deploy %s: binary checksum %s does not match sha256 %s", m.Name, sum, m.SHA256)
	}
	if f := h.fns[m.Name]; f != nil {
		if v := f.current.Load(); v != nil && string(v.manifest.Source) == string(m.Source) && v.sum == sum {
			drop()
			return DeployResult{Name: m.Name, Version: v.number, Unchanged: true}, nil
		}
	}
	if err := h.activate(ctx, m, n, path, sum, h.persist(m.Name, n)); err != nil {
		drop()
		return DeployResult{}, err
	}
	h.store.prune(m.Name)
	return DeployResult{Name: m.Name, Version: n}, nil
}

// persist is the commit of a change kept in the data dir's store: version n of name is
// current.
func (h *Host) persist(name string, n int) func() error {
	return func() error { return h.store.setCurrent(name, n) }
}

// currentNumber is the current version of name, 0 when it is not deployed. Called with h.mu
// held.
func (h *Host) currentNumber(name string) int {
	if f := h.fns[name]; f != nil {
		if v := f.current.Load(); v != nil {
			return v.number
		}
	}
	return 0
}

// Apply makes version n of m current, with the plugin binary at binary, whose sum (NewSum)
// the caller has checked: a version that comes from a shared registry (docs/cluster.md)
// rather than from this host's data dir, which Apply does not touch. The new version's
// processes start first; then commit, when not nil, is called, and only when it succeeds do
// they take traffic (an error from it stops them and changes nothing). A function already
// current at version n with the binary of sum is left running (commit is still called): the
// result is Unchanged.
func (h *Host) Apply(ctx context.Context, m *manifest.Function, n int, binary, sum string, commit func() error) (DeployResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.fns[m.Name]; f != nil {
		if v := f.current.Load(); v != nil && v.number == n && v.sum == sum && string(v.manifest.Source) == string(m.Source) {
			if commit != nil {
				if err := commit(); err != nil {
					return DeployResult{}, fmt.Errorf("deploy %s v%d: %w", m.Name, n, err)
				}
			}
			return DeployResult{Name: m.Name, Version: n, Unchanged: true}, nil
		}
	}
	if err := h.checkConflicts(m); err != nil {
		return DeployResult{}, err
	}
	if err := h.activate(ctx, m, n, binary, sum, commit); err != nil {
		return DeployResult{}, err
	}
	return DeployResult{Name: m.Name, Version: n}, nil
}

// activate starts version n and, once commit (when not nil) succeeds, makes it current.
// Called with h.mu held.
func (h *Host) activate(ctx context.Context, m *manifest.Function, n int, binary, sum string, commit func() error) error {
	f := h.fns[m.Name]
	if f == nil {
		logs := NewLogs(m.Name, h.cfg.Logger)
		logs.sink = h.cfg.LogSink
		f = newFunction(m.Name, logs, h.meters)
	}
	spec := instanceSpec{
		Function: m.Name, Version: n, Binary: binary, Sum: sum, Binaries: h.binaries,
		BaseEnv: h.cfg.PluginEnv, Env: m.Env,
		StartTimeout: h.cfg.StartTimeout, Logs: f.logs, Logger: h.cfg.Logger, Meters: h.meters,
	}
	if !m.Unsandboxed {
		uid, err := h.store.uid(m.Name)
		if err != nil {
			return fmt.Errorf("deploy %s v%d: %w", m.Name, n, err)
		}
		l := m.Limits
		spec.Sandbox, spec.UID = h.cfg.Sandbox, uid
		spec.Limits = sandbox.Limits{Memory: l.Memory, Processes: l.Processes, Files: l.Files, CPU: l.CPU}
	} else if h.cfg.Sandbox.On() {
		h.cfg.Logger.Warn("function runs unconfined: its manifest says sandbox: off", "function", m.Name)
	}
	v := newVersion(n, m, binary, spec, &f.restarts, h.scaler)
	v.sum = sum
	v.pool.backlogOf = f.backlog
	if err := v.pool.start(ctx); err != nil {
		return fmt.Errorf("deploy %s v%d: %w", m.Name, n, err)
	}
	if commit != nil {
		if err := commit(); err != nil {
			v.pool.close()
			return fmt.Errorf("deploy %s v%d: %w", m.Name, n, err)
		}
	}
	old := f.current.Swap(v)
	h.fns[m.Name] = f
	h.changed()
	h.cfg.Logger.Info("function deployed", "function", m.Name, "version", n,
		"min", m.Scale.Min, "max", m.Scale.Max)
	if old != nil {
		h.drain(old)
	}
	return nil
}

// drain lets a replaced version finish in the background.
func (h *Host) drain(v *version) {
	h.drains.Add(1)
	go func() {
		defer h.drains.Done()
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Drain)
		defer cancel()
		v.drain(ctx)
	}()
}

// checkConflicts refuses m when its routes or websocket triggers collide with another
// function's. m goes last, so that the errors name m's manifest, the one refused.
func (h *Host) checkConflicts(m *manifest.Function) error {
	var all []*manifest.Function
	for name, f := range h.fns {
		if name != m.Name {
			if fm := f.Manifest(); fm != nil {
				all = append(all, fm)
			}
		}
	}
	return manifest.CheckConflicts(append(all, m))
}

// Rollback makes the version before the current one current again.
func (h *Host) Rollback(ctx context.Context, name string) (DeployResult, error) {
	return h.RollbackWith(ctx, name, ChangeOptions{})
}

// RollbackWith is Rollback with options.
func (h *Host) RollbackWith(ctx context.Context, name string, o ChangeOptions) (DeployResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.fns[name]
	if f == nil {
		return DeployResult{}, ErrNotFound
	}
	if err := o.check(name, h.currentNumber(name)); err != nil {
		return DeployResult{}, err
	}
	cur := f.current.Load()
	prev := 0
	for _, n := range h.store.versions(name) {
		if n < cur.number {
			prev = n
		}
	}
	if prev == 0 {
		return DeployResult{}, &Error{Status: 409, Code: "no_previous_version", Message: "no previous version to roll back to"}
	}
	m, binary, sum, err := h.loadVersion(name, prev)
	if err != nil {
		return DeployResult{}, err
	}
	if err := h.checkConflicts(m); err != nil {
		return DeployResult{}, err
	}
	if err := h.activate(ctx, m, prev, binary, sum, h.persist(name, prev)); err != nil {
		return DeployResult{}, err
	}
	return DeployResult{Name: name, Version: prev}, nil
}

// loadVersion reads a stored version back.
func (h *Host) loadVersion(name string, n int) (*manifest.Function, string, string, error) {
	meta, src, binary, err := h.store.load(name, n)
	if err != nil {
		return nil, "", "", err
	}
	set, err := manifest.Parse(meta.File, src)
	if err != nil {
		return nil, "", "", fmt.Errorf("stored manifest of %s v%d: %w", name, n, err)
	}
	for _, m := range set.Functions {
		if m.Name == name {
			return m, binary, meta.Sum, nil
		}
	}
	return nil, "", "", fmt.Errorf("stored manifest of %s v%d does not declare it", name, n)
}

// Restore starts the current version of every function in the data directory. A function that
// cannot start is logged and left out; the others start.
func (h *Host) Restore(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, name := range h.store.names() {
		n := h.store.current(name)
		m, binary, sum, err := h.loadVersion(name, n)
		if err == nil {
			err = h.activate(ctx, m, n, binary, sum, nil)
		}
		if err != nil {
			h.cfg.Logger.Error("restore failed", "function", name, "version", n, "error", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Delete stops a function and forgets its versions.
func (h *Host) Delete(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.stop(name); err != nil {
		return err
	}
	return h.store.remove(name)
}

// Stop stops a function without touching the data dir's store: the function of a shared
// registry (docs/cluster.md) that was deleted there. ErrNotFound when it does not run.
func (h *Host) Stop(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stop(name)
}

// stop takes name out of the functions and drains its version. Called with h.mu held.
func (h *Host) stop(name string) error {
	f := h.fns[name]
	if f == nil {
		return ErrNotFound
	}
	delete(h.fns, name)
	old := f.current.Swap(nil)
	h.changed()
	if old != nil {
		h.drain(old)
	}
	h.cfg.Logger.Info("function deleted", "function", name)
	return nil
}

// Running returns the current version number and binary sum of every running function.
func (h *Host) Running() map[string]Running {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]Running, len(h.fns))
	for name, f := range h.fns {
		if v := f.current.Load(); v != nil {
			out[name] = Running{Version: v.number, Sum: v.sum}
		}
	}
	return out
}

// Verified tells the host that the binary file at path, as it is now, has sum (NewSum): the
// caller hashed the bytes as it wrote them (a fetch from a shared registry, an upload). A
// start finds it verified and does not read it again; a file changed since (another inode,
// size or modification time) is hashed again before it starts, as always.
func (h *Host) Verified(path, sum string) { h.binaries.trust(path, sum) }

// Running is what runs of a function: its version and its binary's sum.
type Running struct {
	Version int
	Sum     string
}

// Function returns the deployed function called name, or nil.
func (h *Host) Function(name string) *Function {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fns[name]
}

// Functions returns every deployed function, sorted by name.
func (h *Host) Functions() []*Function {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sortedLocked()
}

func (h *Host) sortedLocked() []*Function {
	out := make([]*Function, 0, len(h.fns))
	for _, f := range h.fns {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (h *Host) changed() {
	all := h.sortedLocked()
	h.all.Store(&all)
	if h.cfg.OnChange != nil {
		h.cfg.OnChange(all)
	}
}

// Close stops every function: in-flight invocations finish (up to ctx), then the processes
// stop. It is idempotent.
func (h *Host) Close(ctx context.Context) error {
	h.stopScaler()
	h.mu.Lock()
	var vs []*version
	for _, f := range h.fns {
		if v := f.current.Swap(nil); v != nil {
			vs = append(vs, v)
		}
	}
	h.fns = map[string]*Function{}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range vs {
		wg.Add(1)
		go func() { defer wg.Done(); v.drain(ctx) }()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { h.drains.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
