package runtime

import (
	"context"
	"sync"
	"time"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// version is one deployed version of a function: its processes and its invocation chain. It
// counts the invocations that hold it so that a replaced version drains before it stops.
type version struct {
	number   int
	manifest *manifest.Function
	binary   string
	sum      string // the binary's sum (NewSum)
	created  time.Time

	pool    *pool
	limit   *limiter
	breaker *breaker
	chain   stage // the breaker, outermost (see newVersion)

	mu     sync.RWMutex
	closed bool
	active sync.WaitGroup
}

// newVersion builds the invocation chain of a version. Each stage wraps the next one, and
// every stage takes a batch (see stage); read from the plugin outwards:
//   - the pool picks a warm process, whose instance sends the batch and waits for its answers;
//   - the timeout sets the deadline the plugin sees, and turns what outlives it into ErrTimeout;
//   - the limit bounds what is in flight, and sheds what waits too long for a slot;
//   - the breaker fails fast while the function is failing, and lets a probe through.
func newVersion(number int, m *manifest.Function, binary string, spec instanceSpec, restarts *restarts, s *scaler) *version {
	v := &version{number: number, manifest: m, binary: binary, created: time.Now().UTC()}
	v.pool = newPool(spec, m.Scale, restarts, s)
	timed := withTimeout(v.pool, m.Timeout)
	v.limit = withLimit(timed, m.Concurrency, m.Timeout)
	v.pool.inflightOf = v.limit.inflight
	v.breaker = withBreaker(v.limit, m.Breaker.Failures, m.Breaker.Cooldown)
	v.chain = v.breaker
	return v
}

// acquire takes a hold on v for one invocation; it fails once v has started draining.
func (v *version) acquire() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.closed {
		return false
	}
	v.active.Add(1)
	return true
}

func (v *version) release() { v.active.Done() }

// drain stops new invocations, waits for those in flight (up to ctx), then stops the processes.
func (v *version) drain(ctx context.Context) {
	v.pool.scaler.remove(v.pool)
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	done := make(chan struct{})
	go func() { v.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	v.pool.close()
}
