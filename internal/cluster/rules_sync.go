package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// RulesConfig configures a Rules. Zero values mean the defaults given.
type RulesConfig struct {
	// Store keeps the rule versions (required): RedisRules with --redis, else FileRules.
	Store RulesStore
	// Apply hands the rules to the WebSocket hub (required).
	Apply func([]*manifest.TopicRule)
	// NodeID is this node's id, kept with every version it commits.
	NodeID string
	// Keep is how many versions are kept; default DefaultKeep (5).
	Keep int
	// Resync is the time between two reads of the store, beside the notifications;
	// default DefaultResync.
	Resync time.Duration
	// Used, when set, is called after the hub got the rules of another version.
	Used func(version int)
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// RulesResult is what a deploy or rollback of the topic rules made current.
type RulesResult struct {
	Version   int  `json:"version"`
	Rules     int  `json:"rules"`
	Unchanged bool `json:"unchanged,omitempty"`
}

// Rules makes this node's WebSocket hub use the topic rules its store holds
// (docs/manifest.md, "Topic rules"), and makes the changes of the admin API: a deploy of a
// new rule set and a rollback, each one atomic step in the store.
type Rules struct {
	cfg RulesConfig

	mu      sync.Mutex // serializes changes and applies
	applied int        // the version the hub uses, 0: the start-up manifests'
	failing string     // why the last read failed, as logged; "" when it did not

	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

// NewRules checks cfg; Start starts following the store.
func NewRules(cfg RulesConfig) (*Rules, error) {
	if cfg.Store == nil || cfg.Apply == nil {
		return nil, errors.New("topic rules: Store and Apply are required")
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
	return &Rules{cfg: cfg, done: make(chan struct{})}, nil
}

// Seed is called once at start, before Start, with the files of the start-up manifests
// that hold topics documents (none: nil). With deploy set (a node alone), they are deployed
// as functions' start-up manifests are. Else, when the store holds no rules, they are
// committed as its first version; when it holds some, they win: the hub uses them, and a
// start-up set that differs is named in one warning with the command that would deploy it.
func (r *Rules) Seed(ctx context.Context, files []RulesFile, deploy bool) error {
	if deploy && len(files) > 0 {
		_, err := r.Deploy(ctx, files, runtime.ChangeOptions{By: "serve --manifests"})
		return err
	}
	st, err := r.cfg.Store.State(ctx)
	if err != nil {
		return err
	}
	if st.Current == 0 && len(files) > 0 {
		_, err := r.Deploy(ctx, files, runtime.ChangeOptions{IfVersion: runtime.NotDeployed, By: "serve --manifests on " + r.cfg.NodeID})
		if err == nil || !errors.Is(err, runtime.ErrVersionConflict) {
			return err
		}
		// Another node added its rules first: they win.
	}
	e, err := r.refresh(ctx)
	if err != nil || e == nil || len(files) == 0 || SameRules(e.Files, files) {
		return err
	}
	names := ""
	for i, f := range files {
		if i > 0 {
			names += " "
		}
		names += f.File
	}
	r.cfg.Logger.Warn("start-up topic rules differ from the deployed ones, which win", "version", e.Version,
		"deploy_with", "edgefn deploy "+names)
	return nil
}

// Start follows the store in the background: every change notified and every Resync.
func (r *Rules) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() {
		defer close(r.done)
		changes := r.cfg.Store.Watch(ctx)
		tick := time.NewTicker(r.cfg.Resync)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-changes:
				if !ok {
					return
				}
			case <-tick.C:
			}
			rctx, cancel := context.WithTimeout(ctx, readTimeout)
			_, err := r.refresh(rctx)
			cancel()
			if ctx.Err() == nil {
				r.logRead(err)
			}
		}
	}()
}

// logRead logs a failed read once until it fails otherwise, and that it works again.
func (r *Rules) logRead(err error) {
	why := ""
	if err != nil {
		why = err.Error()
	}
	r.mu.Lock()
	old := r.failing
	r.failing = why
	r.mu.Unlock()
	switch {
	case why != "" && why != old:
		r.cfg.Logger.Warn("topic rules: read failed; the rules in use stay", "error", err)
	case why == "" && old != "":
		r.cfg.Logger.Info("topic rules: read again")
	}
}

// Close stops following the store, up to ctx.
func (r *Rules) Close(ctx context.Context) error {
	if r.stop == nil {
		return nil
	}
	r.once.Do(r.stop)
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Version is the version of the rules this node uses; 0 when none was deployed (it uses
// its start-up manifests' rules).
func (r *Rules) Version() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// refresh makes the hub use the store's current rules, if they are not in use yet. It
// returns the current entry, nil when the store holds none.
func (r *Rules) refresh(ctx context.Context) (*RulesEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.cfg.Store.State(ctx)
	if err != nil || st.Current == 0 {
		return nil, err
	}
	e, err := r.cfg.Store.Entry(ctx, st.Current)
	if err != nil {
		return nil, err
	}
	if st.Current == r.applied {
		return &e, nil
	}
	rules, err := ParseRules(e.Files)
	if err != nil {
		return nil, fmt.Errorf("topic rules v%d: %w", e.Version, err)
	}
	r.use(e.Version, rules)
	return &e, nil
}

func (r *Rules) use(n int, rules []*manifest.TopicRule) {
	r.cfg.Apply(rules)
	r.applied = n
	r.cfg.Logger.Info("topic rules in use", "version", n, "rules", len(rules))
	if r.cfg.Used != nil {
		r.cfg.Used(n)
	}
}

// Current returns the current entry; found false when none was deployed.
func (r *Rules) Current(ctx context.Context) (RulesEntry, RulesState, bool, error) {
	st, err := r.cfg.Store.State(ctx)
	if err != nil || st.Current == 0 {
		return RulesEntry{}, st, false, err
	}
	e, err := r.cfg.Store.Entry(ctx, st.Current)
	return e, st, err == nil, err
}

// Deploy validates files as manifests (a *manifest.ErrorList with file:line, or another
// error, when they are invalid) and makes their topics documents the rules of every node,
// as a new version, unless o.IfVersion refuses it (409). Files equal to the current
// version's change nothing (Unchanged).
func (r *Rules) Deploy(ctx context.Context, files []RulesFile, o runtime.ChangeOptions) (RulesResult, error) {
	rules, err := ParseRules(files)
	if err != nil {
		return RulesResult{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.cfg.Store.State(ctx)
	if err != nil {
		return RulesResult{}, err
	}
	if err := checkRulesVersion(o.IfVersion, st.Current); err != nil {
		return RulesResult{}, err
	}
	if st.Current > 0 {
		if e, err := r.cfg.Store.Entry(ctx, st.Current); err == nil && SameRules(e.Files, files) {
			if r.applied != st.Current {
				r.use(st.Current, rules)
			}
			return RulesResult{Version: st.Current, Rules: len(rules), Unchanged: true}, nil
		}
	}
	e := RulesEntry{Files: files, DeployedAt: time.Now(), DeployedBy: o.By, Node: r.cfg.NodeID}
	n, err := r.cfg.Store.Commit(ctx, e, o.IfVersion, r.cfg.Keep)
	if err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) {
			return RulesResult{}, checkRulesVersion(o.IfVersion, ce.Current)
		}
		return RulesResult{}, err
	}
	r.use(n, rules)
	return RulesResult{Version: n, Rules: len(rules)}, nil
}

// Rollback makes the kept version before the current one current again, if the current one
// is still the one read (and o.IfVersion, when set).
func (r *Rules) Rollback(ctx context.Context, o runtime.ChangeOptions) (RulesResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.cfg.Store.State(ctx)
	if err != nil {
		return RulesResult{}, err
	}
	if st.Current == 0 {
		return RulesResult{}, &runtime.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no topic rules are deployed"}
	}
	if err := checkRulesVersion(o.IfVersion, st.Current); err != nil {
		return RulesResult{}, err
	}
	prev := 0
	for _, n := range st.Versions {
		if n < st.Current {
			prev = n
		}
	}
	if prev == 0 {
		return RulesResult{}, &runtime.Error{Status: http.StatusConflict, Code: "no_previous_version", Message: "no previous version of the topic rules to roll back to"}
	}
	e, err := r.cfg.Store.Entry(ctx, prev)
	if err != nil {
		return RulesResult{}, err
	}
	rules, err := ParseRules(e.Files)
	if err != nil {
		return RulesResult{}, fmt.Errorf("topic rules v%d: %w", prev, err)
	}
	if err := r.cfg.Store.SetCurrent(ctx, prev, st.Current); err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) {
			return RulesResult{}, &runtime.Error{Status: http.StatusConflict, Code: runtime.ErrVersionConflict.Code,
				Message: fmt.Sprintf("the topic rules changed meanwhile: their current version is %d", ce.Current)}
		}
		return RulesResult{}, err
	}
	r.use(prev, rules)
	return RulesResult{Version: prev, Rules: len(rules)}, nil
}

// checkRulesVersion is runtime.CheckVersion for the topic rules: a 409 version_conflict
// unless ifVersion allows current.
func checkRulesVersion(ifVersion, current int) error {
	switch {
	case ifVersion == 0, ifVersion == runtime.NotDeployed && current == 0, ifVersion == current:
		return nil
	case ifVersion == runtime.NotDeployed:
		return &runtime.Error{Status: http.StatusConflict, Code: runtime.ErrVersionConflict.Code,
			Message: fmt.Sprintf("topic rules are deployed (version %d)", current)}
	}
	return &runtime.Error{Status: http.StatusConflict, Code: runtime.ErrVersionConflict.Code,
		Message: fmt.Sprintf("the topic rules are at version %d, not %d", current, ifVersion)}
}
