package runtime

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// Restart backoff of a crashed plugin process: it doubles from restartMin up to restartMax and
// starts again from restartMin once a process has stayed up for restartReset.
const (
	restartMin   = 50 * time.Millisecond
	restartMax   = 10 * time.Second
	restartReset = 30 * time.Second
)

// pool runs the plugin processes of one version: slots [0, want) each hold one, restarted
// whenever it dies, and invocations are spread over the ready ones. The scaler (scaler.go)
// moves want between the manifest's scale.min and scale.max; an invocation that finds the
// pool at zero wakes it (a cold start). A slot that is no longer wanted lets its process
// finish what it runs before it stops.
type pool struct {
	spec     instanceSpec
	scale    manifest.Scale
	slots    []slot // scale.Max of them
	rr       atomic.Uint64
	restarts *restarts
	scaler   *scaler
	// want is how many slots run a process (slots [0, want)); changed by setWant only.
	want atomic.Int32
	// draining counts processes no longer wanted that finish their work before they stop.
	draining atomic.Int32
	// lastIsolation is how the last started process is confined; lastError why the last
	// start failed, nil once one succeeds (Info.Sandbox, Info.StartError).
	lastIsolation atomic.Pointer[string]
	lastError     atomic.Pointer[string]
	// lastReason is lastError as a caller may read it (startFailed): no paths.
	lastReason atomic.Pointer[string]
	// failedStarts counts failed starts, so that a call waiting for a start learns that it
	// failed; backingOff is set while a slot waits to retry one.
	failedStarts atomic.Int64
	backingOff   atomic.Int32
	// usage is the scaler's record of the pool's load (scaler.go), and inflightOf counts the
	// version's invocations in flight.
	usage      usage
	inflightOf func() int
	// backlogOf counts the messages waiting in the function's queue and stream triggers.
	backlogOf func() int

	mu    sync.Mutex // guards ready and the slots' cancel
	ready chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// slot is where one process of the pool runs; cancel stops its supervisor (see run).
type slot struct {
	inst   atomic.Pointer[instance]
	cancel context.CancelFunc
}

func newPool(spec instanceSpec, scale manifest.Scale, restarts *restarts, s *scaler) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &pool{
		spec: spec, scale: scale, slots: make([]slot, scale.Max), restarts: restarts, scaler: s,
		ready: make(chan struct{}), ctx: ctx, cancel: cancel,
	}
}

// start starts the pool's first processes, max(scale.min, 1) of them, and waits for all to
// be ready: a function scaled to zero still proves at deploy that it starts. It fails,
// stopping what it started, when any cannot start. Then each is supervised.
func (p *pool) start(ctx context.Context) error {
	n := max(p.scale.Min, 1)
	type started struct {
		i    int
		inst *instance
		err  error
	}
	results := make(chan started, n)
	for i := range n {
		go func(i int) {
			inst, err := p.startInstance(ctx)
			results <- started{i, inst, err}
		}(i)
	}
	var firstErr error
	insts := make([]*instance, n)
	for range n {
		r := <-results
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		insts[r.i] = r.inst
	}
	if firstErr != nil {
		for _, inst := range insts {
			if inst != nil {
				inst.stop()
			}
		}
		return firstErr
	}
	p.scaler.add(p, insts)
	return nil
}

// setWant makes slots [0, n) run a process: it starts a supervisor for each newly wanted slot
// (with its first process in firsts, when given) and retires the slots beyond n. Only the
// scaler calls it, under its lock.
func (p *pool) setWant(n int, firsts []*instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	was := int(p.want.Load())
	for i := was; i < n; i++ {
		ctx, cancel := context.WithCancel(p.ctx)
		p.slots[i].cancel = cancel
		var first *instance
		if i < len(firsts) {
			first = firsts[i]
			p.slots[i].inst.Store(first)
		}
		p.wg.Add(1)
		go p.run(ctx, i, first)
	}
	for i := n; i < was; i++ {
		p.slots[i].cancel()
		p.slots[i].cancel = nil
	}
	p.want.Store(int32(n))
	if n > was && len(firsts) > 0 {
		p.signalLocked()
	}
}

// run supervises slot i until its ctx ends: it starts a process (unless first is one),
// restarts it whenever it dies, with backoff, and retries a failed start the same way. When
// the slot is no longer wanted its process finishes its work and stops (retire); when the
// pool closes, close stops it.
func (p *pool) run(ctx context.Context, i int, first *instance) {
	defer p.wg.Done()
	backoff := restartMin
	inst := first
	failed := "plugin start failed" // after a crash: "plugin restart failed"
	for {
		for inst == nil {
			next, err := p.startInstance(ctx)
			if err == nil {
				p.mu.Lock()
				if ctx.Err() == nil {
					p.slots[i].inst.Store(next)
					inst = next
					p.signalLocked()
				}
				p.mu.Unlock()
				if inst == nil { // retired while it started
					next.stop()
					return
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			p.failedStarts.Add(1)
			p.spec.Logger.Error(failed, "function", p.spec.Function, "instance", i,
				"error", err, "backoff", backoff.String())
			p.backingOff.Add(1)
			p.signalReady() // calls waiting for this start fail (see invoke)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			p.backingOff.Add(-1)
			if ctx.Err() != nil {
				return
			}
			backoff = min(backoff*2, restartMax)
		}
		began := time.Now()
		select {
		case <-inst.done():
		case <-ctx.Done():
			if p.ctx.Err() == nil {
				p.retire(i, inst)
			}
			return
		}
		p.slots[i].inst.CompareAndSwap(inst, nil)
		reason := inst.stop()
		if ctx.Err() != nil {
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
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, restartMax)
		inst, failed = nil, "plugin restart failed"
	}
}

// retire takes inst out of slot i, lets the invocations it holds finish, and stops it: a
// scale-down never fails work in flight. Closing the pool cuts the wait short.
func (p *pool) retire(i int, inst *instance) {
	p.slots[i].inst.CompareAndSwap(inst, nil)
	p.draining.Add(1)
	defer p.draining.Add(-1)
	select {
	case <-inst.retire():
	case <-inst.done():
	case <-p.ctx.Done():
	}
	inst.stop()
}

// startInstance starts a process and notes how it went for Info.
func (p *pool) startInstance(ctx context.Context) (*instance, error) {
	inst, err := startInstance(ctx, p.spec)
	if err != nil {
		msg, reason := err.Error(), publicReason(err)
		p.lastReason.Store(&reason)
		p.lastError.Store(&msg)
		return nil, err
	}
	p.lastError.Store(nil)
	p.lastIsolation.Store(&inst.isolation)
	return inst, nil
}

// publicReason says why a start failed in words a caller may read: the error itself names
// files of the node (Info.StartError and the log have it).
func publicReason(err error) string {
	switch {
	case errors.Is(err, ErrIntegrity):
		return ErrIntegrity.Error()
	case errors.Is(err, fs.ErrNotExist):
		return "its binary is missing"
	}
	return "its process failed to start"
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
	p.signalLocked()
	p.mu.Unlock()
}

// signalLocked wakes every call waiting for a process: one became ready or a start failed.
func (p *pool) signalLocked() {
	close(p.ready)
	p.ready = make(chan struct{})
}

// invoke runs the batch on the next ready instance. While none is, it waits: for a process
// that starts (waking the pool when it is at zero: a cold start, traced as a "cold start"
// span), until ctx ends (ErrNotReady), the pool closes (ErrStopping), or a start fails
// (ErrStartFailed).
func (p *pool) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	failed := p.failedStarts.Load()
	var spans []trace.Span
	defer func() { endColdStart(spans) }()
	for {
		p.mu.Lock()
		wait := p.ready
		p.mu.Unlock()
		if inst := p.pick(); inst != nil {
			if !inst.hold() {
				continue // it is retiring; take another
			}
			endColdStart(spans)
			spans = nil
			inst.invoke(ctx, evs, out)
			inst.release()
			return
		}
		if p.want.Load() == 0 {
			woke, err := p.scaler.wake(p)
			if err != nil {
				fillOutcomes(out, nil, err)
				return
			}
			if woke && spans == nil {
				spans = startColdStart(ctx, out)
			}
		}
		if p.failedStarts.Load() != failed || p.backingOff.Load() > 0 {
			fillOutcomes(out, nil, startFailed(*p.lastReason.Load()))
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

// startColdStart starts a "cold start" span under each invocation's span.
func startColdStart(ctx context.Context, out []outcome) []trace.Span {
	spans := make([]trace.Span, 0, len(out))
	for _, o := range out {
		if o.span != nil && o.span.IsRecording() {
			_, span := telemetry.Tracer().Start(trace.ContextWithSpan(ctx, o.span), "cold start")
			spans = append(spans, span)
		}
	}
	return spans
}

func endColdStart(spans []trace.Span) {
	for _, s := range spans {
		s.End()
	}
}

// pick returns a ready instance, taking them in turn, or nil.
func (p *pool) pick() *instance {
	n := uint64(p.want.Load())
	if n == 0 {
		return nil
	}
	start := p.rr.Add(1)
	for k := uint64(0); k < n; k++ {
		if inst := p.slots[(start+k)%n].inst.Load(); inst != nil {
			return inst
		}
	}
	return nil
}

// inflight is how many invocations of the version are in flight.
func (p *pool) inflight() int {
	if p.inflightOf == nil {
		return 0
	}
	return p.inflightOf()
}

// backlog is how many messages wait in the function's triggers.
func (p *pool) backlog() int {
	if p.backlogOf == nil {
		return 0
	}
	return p.backlogOf()
}

// readyCount is how many instances can take work now.
func (p *pool) readyCount() int {
	n := 0
	for i := range p.slots {
		if p.slots[i].inst.Load() != nil {
			n++
		}
	}
	return n
}

// canWake reports whether a call that finds no process ready may start one: the function
// scales to zero and its last start did not fail.
func (p *pool) canWake() bool {
	return p.scale.Min == 0 && p.lastError.Load() == nil
}

// close stops supervising and stops every process.
func (p *pool) close() {
	p.scaler.remove(p)
	p.mu.Lock()
	p.cancel()
	p.mu.Unlock()
	p.wg.Wait()
	p.stopInstances()
}

func (p *pool) stopInstances() {
	var wg sync.WaitGroup
	for i := range p.slots {
		if inst := p.slots[i].inst.Swap(nil); inst != nil {
			wg.Add(1)
			go func() { defer wg.Done(); inst.stop() }()
		}
	}
	wg.Wait()
}

var _ stage = (*pool)(nil)
