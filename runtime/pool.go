package runtime

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// Restart backoff of a crashed plugin process: it doubles from restartMin up to restartMax and
// starts again from restartMin once a process has stayed up for restartReset.
const (
	restartMin   = 50 * time.Millisecond
	restartMax   = 10 * time.Second
	restartReset = 30 * time.Second
)

// pool keeps a fixed number of warm plugin processes of one version, restarting each one that
// dies, and spreads invocations over the ready ones.
type pool struct {
	spec     instanceSpec
	slots    []atomic.Pointer[instance]
	rr       atomic.Uint64
	restarts *restarts
	// lastIsolation is how the last started process is confined; lastError why the last
	// start failed, nil once one succeeds (Info.Sandbox, Info.StartError).
	lastIsolation atomic.Pointer[string]
	lastError     atomic.Pointer[string]

	mu    sync.Mutex
	ready chan struct{} // closed and replaced whenever an instance becomes ready

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newPool(spec instanceSpec, instances int, restarts *restarts) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &pool{
		spec: spec, slots: make([]atomic.Pointer[instance], instances), restarts: restarts,
		ready: make(chan struct{}), ctx: ctx, cancel: cancel,
	}
}

// start starts every instance and waits for all to be ready; it fails, stopping what it
// started, when any cannot start. Then each instance is supervised.
func (p *pool) start(ctx context.Context) error {
	type started struct {
		i    int
		inst *instance
		err  error
	}
	results := make(chan started, len(p.slots))
	for i := range p.slots {
		go func(i int) {
			inst, err := p.startInstance(ctx)
			results <- started{i, inst, err}
		}(i)
	}
	var firstErr error
	for range p.slots {
		r := <-results
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		p.slots[r.i].Store(r.inst)
	}
	if firstErr != nil {
		p.stopInstances()
		return firstErr
	}
	for i := range p.slots {
		p.wg.Add(1)
		go p.supervise(i)
	}
	p.signalReady()
	return nil
}

// supervise restarts slot i's process whenever it dies, with backoff, until the pool closes.
func (p *pool) supervise(i int) {
	defer p.wg.Done()
	backoff := restartMin
	for {
		inst := p.slots[i].Load()
		began := time.Now()
		select {
		case <-inst.done():
		case <-p.ctx.Done():
			return
		}
		p.slots[i].Store(nil)
		reason := inst.stop()
		if p.ctx.Err() != nil {
			return
		}
		if reason == exitMemory {
			p.restarts.memory.Add(1)
		} else {
			p.restarts.crash.Add(1)
		}
		if time.Since(began) > restartReset {
			backoff = restartMin
		}
		p.spec.Logger.Warn("plugin process exited; restarting", "function", p.spec.Function,
			"version", p.spec.Version, "instance", i, "reason", reason, "backoff", backoff.String())
		for {
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			backoff = min(backoff*2, restartMax)
			next, err := p.startInstance(p.ctx)
			if err == nil {
				p.slots[i].Store(next)
				p.signalReady()
				break
			}
			if p.ctx.Err() != nil {
				return
			}
			p.spec.Logger.Error("plugin restart failed", "function", p.spec.Function, "instance", i,
				"error", err, "backoff", backoff.String())
		}
	}
}

// startInstance starts a process and notes how it went for Info.
func (p *pool) startInstance(ctx context.Context) (*instance, error) {
	inst, err := startInstance(ctx, p.spec)
	if err != nil {
		msg := err.Error()
		p.lastError.Store(&msg)
		return nil, err
	}
	p.lastError.Store(nil)
	p.lastIsolation.Store(&inst.isolation)
	return inst, nil
}

// isolation is Info.Sandbox: how the last started process is confined.
func (p *pool) isolation() string {
	if s := p.lastIsolation.Load(); s != nil {
		return *s
	}
	return ""
}

// startError is Info.StartError.
func (p *pool) startError() string {
	if s := p.lastError.Load(); s != nil {
		return *s
	}
	return ""
}

func (p *pool) signalReady() {
	p.mu.Lock()
	close(p.ready)
	p.ready = make(chan struct{})
	p.mu.Unlock()
}

// invoke runs the batch on the next ready instance, waiting for one while none is: until ctx
// ends (ErrNotReady) or the pool closes (ErrStopping).
func (p *pool) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	for {
		p.mu.Lock()
		wait := p.ready
		p.mu.Unlock()
		if inst := p.pick(); inst != nil {
			inst.invoke(ctx, evs, out)
			return
		}
		select {
		case <-wait:
		case <-ctx.Done():
			fillOutcomes(out, nil, ErrNotReady)
			return
		case <-p.ctx.Done():
			fillOutcomes(out, nil, ErrStopping)
			return
		}
	}
}

// pick returns a ready instance, taking them in turn, or nil.
func (p *pool) pick() *instance {
	n := uint64(len(p.slots))
	start := p.rr.Add(1)
	for k := uint64(0); k < n; k++ {
		if inst := p.slots[(start+k)%n].Load(); inst != nil {
			return inst
		}
	}
	return nil
}

// readyCount is how many instances can take work now.
func (p *pool) readyCount() int {
	n := 0
	for i := range p.slots {
		if p.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// close stops supervising and stops every process.
func (p *pool) close() {
	p.cancel()
	p.wg.Wait()
	p.stopInstances()
}

func (p *pool) stopInstances() {
	var wg sync.WaitGroup
	for i := range p.slots {
		if inst := p.slots[i].Swap(nil); inst != nil {
			wg.Add(1)
			go func() { defer wg.Done(); inst.stop() }()
		}
	}
	wg.Wait()
}

var _ stage = (*pool)(nil)
