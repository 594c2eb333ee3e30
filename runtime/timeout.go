package runtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/edgefn/edgefn/internal/deadline"
	"github.com/edgefn/edgefn/runtime/fn"
)

// withTimeout gives each invocation the function's deadline; the plugin sees it on its ctx, and
// a call that outlives it fails with ErrTimeout (504) whatever the plugin answers later. The
// stages below get a deadline.Context: it makes a timer only for one that waits on Done, and
// the instance, which waits for nearly every call, waits on a pooled timer instead (waitFor).
func withTimeout(next Invoker, d time.Duration) Invoker { return &timeout{next: next, d: d} }

// timeout is the chain's deadline stage (see withTimeout).
type timeout struct {
	next Invoker
	d    time.Duration
}

func (t *timeout) Invoke(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	c := deadline.New(ctx, time.Now().Add(t.d))
	defer c.Cancel()
	res, err := t.next.Invoke(c, ev)
	if err != nil && errors.Is(c.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrCrashed) {
		return nil, ErrTimeout
	}
	return res, err
}

func (t *timeout) invokeBatch(ctx context.Context, evs []*fn.Event, out []outcome) {
	c := deadline.New(ctx, time.Now().Add(t.d))
	defer c.Cancel()
	invokeBatch(c, t.next, evs, out)
	if errors.Is(c.Err(), context.DeadlineExceeded) {
		for k, o := range out {
			if o.err != nil && !errors.Is(o.err, ErrCrashed) {
				out[k].res, out[k].err = nil, ErrTimeout
			}
		}
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

// waitFor returns what to wait for besides a call's answer under ctx. Under the timeout
// stage's deadline.Context the deadline is on a pooled timer and done is the caller's own, so
// that the deadline.Context makes no timer; under any other ctx, done is ctx.Done(). Call
// release when done waiting.
func waitFor(ctx context.Context) wait {
	c, ok := ctx.(*deadline.Context)
	if !ok {
		return wait{done: ctx.Done()}
	}
	when, _ := c.Deadline()
	t := timers.Get().(*time.Timer)
	t.Reset(time.Until(when))
	return wait{done: c.Parent().Done(), expired: t.C, timer: t}
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
