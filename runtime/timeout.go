package runtime

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
)

// withTimeout gives each invocation the function's deadline; the plugin sees it on its ctx, and
// a call that outlives it fails with ErrTimeout (504) whatever the plugin answers later.
func withTimeout(next Invoker, d time.Duration) Invoker { return &timeout{next: next, d: d} }

// timeout is the chain's deadline stage (see withTimeout).
type timeout struct {
	next Invoker
	d    time.Duration
}

func (t *timeout) Invoke(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	c := newCallCtx(ctx, t.d)
	defer c.release()
	res, err := t.next.Invoke(c, ev)
	if err != nil && errors.Is(c.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrCrashed) {
		return nil, ErrTimeout
	}
	return res, err
}

func (t *timeout) invokeBatch(ctx context.Context, evs []*fn.Event, out []outcome) {
	c := newCallCtx(ctx, t.d)
	defer c.release()
	invokeBatch(c, t.next, evs, out)
	if errors.Is(c.Err(), context.DeadlineExceeded) {
		for k, o := range out {
			if o.err != nil && !errors.Is(o.err, ErrCrashed) {
				out[k].res, out[k].err = nil, ErrTimeout
			}
		}
	}
}

// callCtx is what an invocation runs under below the timeout stage: the caller's context with
// the function's deadline. It is done at the deadline, as a context.WithDeadline is, but makes
// that context and its timer only when something asks for Done. The instance, which waits for
// nearly every call, does not: it waits for the caller's own Done and for the deadline on a
// pooled timer (see waitFor). An invocation then costs no context and no timer of its own,
// which cost the gateway about 1 µs a call.
type callCtx struct {
	context.Context // the caller's
	deadline        time.Time

	mu       sync.Mutex // serializes making inner with release
	inner    atomic.Pointer[deadlineCtx]
	released atomic.Bool
}

type deadlineCtx struct {
	context.Context
	cancel context.CancelFunc
}

// newCallCtx returns parent with a deadline d from now, or parent's own when that is earlier.
func newCallCtx(parent context.Context, d time.Duration) *callCtx {
	deadline := time.Now().Add(d)
	if pd, ok := parent.Deadline(); ok && pd.Before(deadline) {
		deadline = pd
	}
	return &callCtx{Context: parent, deadline: deadline}
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *callCtx) Done() <-chan struct{} {
	if in := c.inner.Load(); in != nil {
		return in.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.inner.Load()
	if in == nil {
		in = &deadlineCtx{}
		in.Context, in.cancel = context.WithDeadline(c.Context, c.deadline)
		if c.released.Load() {
			in.cancel()
		}
		c.inner.Store(in)
	}
	return in.Done()
}

func (c *callCtx) Err() error {
	if in := c.inner.Load(); in != nil {
		return in.Err()
	}
	// No one waits on Done: tell what it would say.
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	if c.released.Load() {
		return context.Canceled
	}
	return nil
}

func (c *callCtx) Value(key any) any {
	if in := c.inner.Load(); in != nil {
		return in.Value(key) // the context package finds the cancelable context behind Done here
	}
	return c.Context.Value(key)
}

// release ends the invocation: a context made for Done is canceled, and Err says Canceled
// from now on unless the deadline passed first.
func (c *callCtx) release() {
	c.mu.Lock()
	c.released.Store(true)
	in := c.inner.Load()
	c.mu.Unlock()
	if in != nil {
		in.cancel()
	}
}

// timers are stopped timers for waitFor to reuse.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// wait is what an instance waits for besides a call's answer (see waitFor).
type wait struct {
	// done is closed when the caller gives up: ctx.Err() tells why.
	done <-chan struct{}
	// expired receives when the call's deadline passes (nil: done covers it).
	expired <-chan time.Time
	timer   *time.Timer
}

// waitFor returns what to wait for besides a call's answer under ctx. Under a callCtx the
// deadline is on a pooled timer and done is the caller's own, so that the callCtx makes no
// context timer; under any other ctx, done is ctx.Done(). Call release when done waiting.
func waitFor(ctx context.Context) wait {
	c, ok := ctx.(*callCtx)
	if !ok {
		return wait{done: ctx.Done()}
	}
	t := timers.Get().(*time.Timer)
	t.Reset(time.Until(c.deadline))
	return wait{done: c.Context.Done(), expired: t.C, timer: t}
}

func (w wait) release() {
	if w.timer != nil {
		w.timer.Stop() // after Stop no stale expiry is received (Go 1.23 timers)
		timers.Put(w.timer)
	}
}

// waitErr is the error of a call that stopped waiting because ctx ended.
func waitErr(ctx context.Context) error {
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return ErrTimeout
}
