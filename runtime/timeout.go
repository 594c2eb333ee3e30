package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/edgefn/edgefn/internal/deadline"
	"github.com/edgefn/edgefn/runtime/fn"
)

// withTimeout gives each invocation the function's deadline; the plugin sees it on its ctx, and
// a call that outlives it fails with ErrTimeout (504) whatever the plugin answers later. The
// stages below get a deadline.Context: it makes a timer only for one that waits on Done, and
// the instance, which waits for nearly every call, keeps the deadlines of all its calls on one
// timer of its own instead (see doneOf and instance.sweep).
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

// doneOf returns what ends ctx before its deadline, for an instance that waits for a call
// under ctx (the deadline is the instance's to keep, see instance.sweep): the parent's Done
// for the timeout stage's deadline.Context, which so makes no timer, and ctx.Done for any
// other. nil: nothing but the deadline ends ctx.
func doneOf(ctx context.Context) <-chan struct{} {
	if c, ok := ctx.(*deadline.Context); ok {
		return c.Parent().Done()
	}
	return ctx.Done()
}

// waitErr is the error of a call that stopped waiting because ctx ended.
func waitErr(ctx context.Context) error {
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return ErrTimeout
}
