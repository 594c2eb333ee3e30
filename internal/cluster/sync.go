package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// Defaults of SyncConfig (docs/cluster.md).
const (
	// DefaultResync is how often a node reads the whole registry again, beside the
	// notifications.
	DefaultResync = 5 * time.Second
	// readTimeout bounds one read of the registry.
	readTimeout = 10 * time.Second
	// retryLoad is the pause before a failed read is tried again.
	retryLoad = time.Second
)

// SyncConfig configures a Sync. Zero values mean the defaults given.
type SyncConfig struct {
	// Store is the shared registry and Blobs its binaries (both required).
	Store FunctionStore
	Blobs Blobs
	// Host runs the functions (required).
	Host *runtime.Host
	// CacheDir keeps the binaries fetched from Blobs, one file per sha256 (required).
	CacheDir string
	// NodeID is this node's id, kept with every version it commits.
	NodeID string
	// Keep is how many versions of a function a commit keeps; default DefaultKeep (5).
	Keep int
	// Resync is the time between two reads of the whole registry; default DefaultResync.
	Resync time.Duration
	// Seed, when set, is called once, after the first read of the registry and before the
	// node says it is ready: the start-up manifests are added there.
	Seed func(ctx context.Context)
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Sync makes this node run what the shared function registry holds (docs/cluster.md): it
// reads the whole registry at start, at every notification's resync (a reconnect) and every
// Resync, and one function at each change notified. It also makes the changes of the admin
// API (DeployWith, RollbackWith, Delete), each one atomic step in the registry.
type Sync struct {
	cfg SyncConfig

	// change serializes this node's own changes (DeployWith, RollbackWith, Delete) with the
	// applying of what a read found, one function at a time: a read made before a change of
	// this node must not undo it (see fresh).
	change sync.Mutex

	// prefetches are the fetches of announced binaries, beside the loop.
	prefetches sync.WaitGroup

	mu       sync.Mutex
	inflight map[string]chan struct{} // the fetches under way, by sha256; closed when done
	touched  map[string]time.Time     // when this node last changed a function
	problems map[string]string        // why a function does not run as the registry has it
	epoch    string                   // the registry's epoch, as first seen
	lost     bool                     // the registry lost its data since this node started
	kept     []string                 // the functions kept because of a loss, as last logged

	loaded  atomic.Bool // the first read is applied
	failing atomic.Pointer[string]
	stop    context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// NewSync checks cfg; Start starts the Sync.
func NewSync(cfg SyncConfig) (*Sync, error) {
	if cfg.Store == nil || cfg.Blobs == nil || cfg.Host == nil || cfg.CacheDir == "" {
		return nil, errors.New("cluster sync: Store, Blobs, Host and CacheDir are required")
	}
	if cfg.Keep < 1 {
		cfg.Keep = DefaultKeep
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Sync{cfg: cfg, problems: map[string]string{}, touched: map[string]time.Time{},
		inflight: map[string]chan struct{}{}, done: make(chan struct{})}, nil
}

// Start starts reading the registry in the background.
func (s *Sync) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
}

// Close stops the Sync and waits for it, up to ctx. The functions keep running.
func (s *Sync) Close(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	s.once.Do(s.stop)
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NotReady says why this node does not yet run what the registry holds: it has not read it
// since it started, or since a read failed (Redis away). Nil when it has.
func (s *Sync) NotReady() []string {
	if !s.loaded.Load() {
		return []string{"function registry: not loaded yet"}
	}
	if why := s.failing.Load(); why != nil {
		return []string{"function registry: not read since it failed: " + *why}
	}
	return nil
}

// Problem says why this node does not run name as the registry has it, "" when it does.
func (s *Sync) Problem(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.problems[name]
}

// touch notes that this node changed name now. Called with s.change held.
func (s *Sync) touch(name string) {
	s.mu.Lock()
	s.touched[name] = time.Now()
	s.mu.Unlock()
}

// fresh says whether what a read begun at read says of name may be applied: this node has not
// changed name since. Called with s.change held.
func (s *Sync) fresh(name string, read time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.touched[name].After(read)
}

func (s *Sync) setProblem(name, why string) {
	s.mu.Lock()
	old := s.problems[name]
	s.problems[name] = why
	s.mu.Unlock()
	if old != why {
		s.cfg.Logger.Error("function registry: function not run as the registry has it", "function", name, "error", why)
	}
}

func (s *Sync) clearProblem(name string) {
	s.mu.Lock()
	delete(s.problems, name)
	s.mu.Unlock()
}

// run applies the registry until ctx ends.
func (s *Sync) run(ctx context.Context) {
	defer s.prefetches.Wait()
	changes := s.cfg.Store.Watch(ctx)
	tick := time.NewTicker(s.cfg.Resync)
	defer tick.Stop()
	retry := time.NewTimer(0) // the first read, at once
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-changes:
			if !ok {
				return
			}
			switch {
			case c.Down != "":
				// Not ready until a read after the reconnect: what was missed meanwhile must
				// run before the node says it is ready.
				why := "notifications stopped: " + c.Down
				if s.failing.Swap(&why) == nil {
					s.cfg.Logger.Warn("function registry: notifications stopped; the functions keep running as they are", "error", c.Down)
				}
			case c.Resync:
				s.loadAll(ctx, retry)
			case c.Blob != "":
				s.prefetch(ctx, c.Blob)
			case s.loaded.Load():
				s.loadOne(ctx, c)
			}
		case <-tick.C:
			s.loadAll(ctx, retry)
		case <-retry.C:
			s.loadAll(ctx, retry)
		}
	}
}

// maxPrefetches bounds the binaries fetched ahead of their commit at once; an announce
// beyond it is fetched at its commit.
const maxPrefetches = 4

// prefetch fetches the binary sum, announced by a deploy that stores it, beside the loop: it
// is in the cache when the commit comes.
func (s *Sync) prefetch(ctx context.Context, sum string) {
	s.mu.Lock()
	busy := len(s.inflight)
	s.mu.Unlock()
	if busy >= maxPrefetches {
		return
	}
	s.prefetches.Add(1)
	go func() {
		defer s.prefetches.Done()
		start := time.Now()
		_, err := s.fetch(ctx, sum)
		s.cfg.Logger.Debug("function registry: binary fetched ahead of its commit", "sha256", sum,
			"took", time.Since(start).String(), "error", err)
	}()
}

// loadAll reads the whole registry and applies it; when the read fails, retry fires soon.
func (s *Sync) loadAll(ctx context.Context, retry *time.Timer) {
	read := time.Now()
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	snap, err := s.cfg.Store.Snapshot(rctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		why := err.Error()
		if s.failing.Swap(&why) == nil {
			s.cfg.Logger.Warn("function registry: read failed; the functions keep running as they are", "error", err)
		}
		retry.Reset(retryLoad)
		return
	}
	s.apply(ctx, snap, read)
	if !s.loaded.Load() {
		if s.cfg.Seed != nil {
			s.cfg.Seed(ctx)
		}
		s.loaded.Store(true)
		s.cfg.Logger.Info("function registry loaded", "functions", len(snap.Current), "epoch", snap.Epoch)
	}
	if s.failing.Swap(nil) != nil {
		s.cfg.Logger.Info("function registry: read again", "functions", len(snap.Current))
	}
}

// apply makes the host run what snap holds. A function the registry does not hold is
// stopped, unless the registry lost its data since this node read it first (a Redis
// restarted without persistence): then every function runs on as it is, and the node says so.
func (s *Sync) apply(ctx context.Context, snap Snapshot, read time.Time) {
	s.mu.Lock()
	switch {
	case s.epoch == "":
		s.epoch = snap.Epoch
	case snap.Epoch != s.epoch && !s.lost:
		s.lost = true
		s.cfg.Logger.Error("function registry: the registry lost its data (was Redis restarted without persistence?); "+
			"this node keeps running the functions it no longer holds until they are deleted or the node restarts",
			"epoch_seen", s.epoch, "epoch_now", snap.Epoch)
	}
	lost := s.lost
	s.mu.Unlock()
	for _, e := range snap.Current {
		s.change.Lock()
		if s.fresh(e.Name, read) {
			s.applyEntry(ctx, e)
		}
		s.change.Unlock()
	}
	for name, why := range snap.Bad {
		s.setProblem(name, why)
	}
	var kept []string
	for name := range s.cfg.Host.Running() {
		_, cur := snap.Current[name]
		_, bad := snap.Bad[name]
		switch {
		case cur || bad:
		case lost:
			kept = append(kept, name)
		default:
			s.change.Lock()
			if s.fresh(name, read) {
				_ = s.cfg.Host.Stop(ctx, name)
				s.clearProblem(name)
			}
			s.change.Unlock()
		}
	}
	s.mu.Lock()
	for name := range s.problems {
		_, cur := snap.Current[name]
		_, bad := snap.Bad[name]
		if !cur && !bad {
			delete(s.problems, name)
		}
	}
	slices.Sort(kept)
	if lost && !slices.Equal(kept, s.kept) {
		s.kept = kept
		s.cfg.Logger.Warn("function registry: keeping functions the registry does not hold (it lost its data)", "functions", kept)
	}
	s.mu.Unlock()
	s.sweepCache(snap)
}

// loadOne applies the change c of one function.
func (s *Sync) loadOne(ctx context.Context, c Change) {
	read := time.Now()
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	st, err := s.cfg.Store.Function(rctx, c.Name)
	if err != nil {
		return // the next full read catches up
	}
	s.change.Lock()
	defer s.change.Unlock()
	if !s.fresh(c.Name, read) {
		return
	}
	if st.Current == 0 {
		s.mu.Lock()
		lost := s.lost
		s.mu.Unlock()
		if c.Deleted || !lost {
			_ = s.cfg.Host.Stop(ctx, c.Name)
		}
		s.clearProblem(c.Name)
		return
	}
	e, err := s.cfg.Store.Entry(rctx, c.Name, st.Current)
	if err != nil {
		s.setProblem(c.Name, err.Error())
		return
	}
	s.applyEntry(ctx, e)
}

// applyEntry makes the host run e, fetching and checking its binary first. What fails is
// kept as the function's problem; the version that runs keeps running.
func (s *Sync) applyEntry(ctx context.Context, e Entry) {
	if r, ok := s.cfg.Host.Running()[e.Name]; ok && r.Version == e.Version && r.Sum == e.SHA256 {
		s.clearProblem(e.Name)
		return
	}
	start := time.Now()
	m, path, err := s.prepare(ctx, e)
	fetched := time.Now()
	if err == nil {
		_, err = s.cfg.Host.Apply(ctx, m, e.Version, path, e.SHA256, nil)
	}
	if err != nil {
		if errors.Is(err, runtime.ErrIntegrity) {
			// The cached copy changed on disk: the next read fetches it again.
			os.Remove(s.cached(e.SHA256))
		}
		s.setProblem(e.Name, fmt.Sprintf("version %d not started: %v", e.Version, err))
		return
	}
	s.clearProblem(e.Name)
	s.cfg.Logger.Debug("function registry: version applied", "function", e.Name, "version", e.Version,
		"fetch", fetched.Sub(start).String(), "start", time.Since(fetched).String())
}

// prepare reads e's manifest and has its binary in the cache.
func (s *Sync) prepare(ctx context.Context, e Entry) (*manifest.Function, string, error) {
	m, err := entryManifest(e)
	if err != nil {
		return nil, "", err
	}
	path, err := s.fetch(ctx, e.SHA256)
	if err != nil {
		return nil, "", err
	}
	return m, path, nil
}

// entryManifest is the function of e's manifest.
func entryManifest(e Entry) (*manifest.Function, error) {
	set, err := manifest.Parse(e.File, []byte(e.Manifest))
	if err != nil {
		return nil, fmt.Errorf("stored manifest: %w", err)
	}
	for _, m := range set.Functions {
		if m.Name == e.Name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("stored manifest does not declare %s", e.Name)
}
