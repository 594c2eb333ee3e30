package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgefn/edgefn/runtime"
)

// Defaults of Config (docs/cluster.md).
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = 10 * time.Second
	DefaultTTL      = 5 * time.Minute
	// MaxNodes bounds a list: the nodes of the most recent beats.
	MaxNodes = 1000
	// stopTimeout bounds the last write, which marks the node gone, when Close's context
	// leaves more.
	stopTimeout = 2 * time.Second
)

// Config configures a Registry. Zero values mean the defaults given.
type Config struct {
	// Cluster is the cluster's name; default DefaultCluster.
	Cluster string
	// Self describes this node: ID (required), Address, AdminAddress, Version, Started
	// (default: when New is called). Its other fields are ignored.
	Self Node
	// Functions returns what this node runs, read at every beat; nil: none.
	Functions func() []runtime.Info
	// TopicRules returns the version of the topic rules this node uses, read at every beat;
	// nil: 0.
	TopicRules func() int
	// Store keeps the records; nil: this node alone, which lists only itself.
	Store Store
	// Interval is the time between beats; default DefaultInterval (2s).
	Interval time.Duration
	// Timeout is how old a node's last beat may be before it is gone; default DefaultTimeout
	// (10s).
	Timeout time.Duration
	// TTL is how long a record is kept after its last beat; default DefaultTTL (5m).
	TTL time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Registry is this node's place in its cluster's node registry: its heartbeat, and the list
// of every node.
type Registry struct {
	cfg   Config
	poke  chan struct{}
	stop  context.CancelFunc
	done  chan struct{}
	start sync.Once
	close sync.Once
	// down is set while beats fail, so that an outage is logged once; the beat loop alone
	// touches it.
	down bool
}

// New checks cfg; it starts nothing.
func New(cfg Config) (*Registry, error) {
	if cfg.Cluster == "" {
		cfg.Cluster = DefaultCluster
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Self.Started.IsZero() {
		cfg.Self.Started = time.Now()
	}
	cfg.Self.Started = cfg.Self.Started.UTC()
	var errs []error
	if err := ValidName(cfg.Self.ID); err != nil {
		errs = append(errs, fmt.Errorf("node id %w", err))
	}
	if err := ValidName(cfg.Cluster); err != nil {
		errs = append(errs, fmt.Errorf("cluster name %w", err))
	}
	if cfg.TTL <= cfg.Timeout || cfg.Timeout <= cfg.Interval {
		errs = append(errs, fmt.Errorf("want interval (%v) < timeout (%v) < ttl (%v)", cfg.Interval, cfg.Timeout, cfg.TTL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("node registry: %w", err)
	}
	return &Registry{cfg: cfg, poke: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// Cluster is the cluster's name.
func (r *Registry) Cluster() string { return r.cfg.Cluster }

// Start starts the heartbeat: one beat at once, then one every Interval, each bounded by
// Interval, until Close. Without a Store it does nothing. It returns at once: a Redis away
// delays no start.
func (r *Registry) Start() {
	r.start.Do(func() {
		if r.cfg.Store == nil {
			close(r.done)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		r.stop = cancel
		go r.run(ctx)
	})
}

// Poke asks for a beat soon, such as after a deploy, rather than at the next tick.
func (r *Registry) Poke() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// Close stops the heartbeat and marks this node gone (stopped now) in the store, within
// ctx and at most 2 seconds: a Redis away delays no shutdown. It is idempotent.
func (r *Registry) Close(ctx context.Context) error {
	var err error
	r.close.Do(func() {
		r.start.Do(func() { close(r.done) }) // never started: nothing to stop
		if r.stop == nil {
			return
		}
		r.stop()
		select {
		case <-r.done:
		case <-ctx.Done():
			err = ctx.Err()
			return
		}
		sctx, cancel := context.WithTimeout(ctx, stopTimeout)
		defer cancel()
		n := r.self()
		n.Stopped = time.Now().UTC()
		if err = r.cfg.Store.Beat(sctx, n, r.cfg.TTL); err != nil {
			err = fmt.Errorf("node registry: mark %s gone: %w", n.ID, err)
		}
	})
	return err
}

func (r *Registry) run(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for {
		r.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.poke:
		}
	}
}

// beat writes this node's record, logging the first failure of a run of them and the
// recovery.
func (r *Registry) beat(ctx context.Context) {
	bctx, cancel := context.WithTimeout(ctx, r.cfg.Interval)
	defer cancel()
	err := r.cfg.Store.Beat(bctx, r.self(), r.cfg.TTL)
	switch {
	case ctx.Err() != nil:
	case err != nil && !r.down:
		r.down = true
		r.cfg.Logger.Warn("node registry: heartbeat failed; the node keeps serving and beats again when the store answers",
			"node_id", r.cfg.Self.ID, "cluster", r.cfg.Cluster, "error", err)
	case err == nil && r.down:
		r.down = false
		r.cfg.Logger.Info("node registry: heartbeat back", "node_id", r.cfg.Self.ID, "cluster", r.cfg.Cluster)
	}
}

// self is this node's record now.
func (r *Registry) self() Node {
	n := Node{
		ID: r.cfg.Self.ID, Address: r.cfg.Self.Address, AdminAddress: r.cfg.Self.AdminAddress,
		Version: r.cfg.Self.Version, Started: r.cfg.Self.Started, Functions: []Function{},
	}
	if r.cfg.Functions != nil {
		for _, info := range r.cfg.Functions() {
			n.Functions = append(n.Functions, FunctionOf(info))
		}
	}
	slices.SortFunc(n.Functions, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	if r.cfg.TopicRules != nil {
		n.TopicRules = r.cfg.TopicRules()
	}
	return n
}

// Nodes lists the cluster's nodes, live first (docs/cluster.md). This node is always among
// them, with the functions it runs now rather than as of its last beat. Without
// a Store it is the only one. An error is the store's.
func (r *Registry) Nodes(ctx context.Context) (List, error) {
	l := List{Cluster: r.cfg.Cluster, Nodes: []Node{}}
	if r.cfg.Store == nil {
		n := r.self()
		l.ListedAt = time.Now().UTC()
		n.LastSeen, n.State = l.ListedAt, Live
		l.Nodes = append(l.Nodes, n)
		return l, nil
	}
	now, nodes, err := r.cfg.Store.Records(ctx, MaxNodes)
	if err != nil {
		return List{}, fmt.Errorf("node registry: %w", err)
	}
	l.ListedAt = now.UTC()
	found := false
	for _, n := range nodes {
		n.State = Liveness(!n.Stopped.IsZero(), now.Sub(n.LastSeen), r.cfg.Timeout)
		if n.ID == r.cfg.Self.ID && n.Error == "" {
			// This node: what it runs now, not as of its last beat.
			fresh := r.self()
			fresh.LastSeen, fresh.Stopped = n.LastSeen, n.Stopped
			fresh.State = Liveness(!n.Stopped.IsZero(), 0, r.cfg.Timeout)
			n, found = fresh, true
		}
		l.Nodes = append(l.Nodes, n)
	}
	if !found {
		n := r.self()
		n.LastSeen, n.State = l.ListedAt, Live
		l.Nodes = append(l.Nodes, n)
	}
	sortNodes(l.Nodes)
	return l, nil
}
