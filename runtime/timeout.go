package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/edgefn/edgefn/internal/deadline"
	"github.com/edgefn/edgefn/runtime/event"
)

// withTimeout returns next under the function's deadline, d from the call: the plugin sees
// it on its ctx, and an event whose call outlives it fails with ErrTimeout (504), whatever
// the plugin answers later, unless its process died (ErrCrashed, 502). The stages below get a
// deadline.Context rather than a context.WithDeadline: it makes a timer only for one that
// waits on Done, and the instance, which waits for nearly every call, keeps the deadlines of
// all its calls on one timer of its own instead (see doneOf and instance.sweep). That it pays
// on the path of a call is BenchmarkChain's to show (bench/README.md, "Invocation chain").
func withTimeout(next stage, d time.Duration) stage { return &timeout{next: next, d: d} }

// timeout is the chain's deadline stage (see withTimeout).
type timeout struct {
	next stage
	d    time.Duration
}

func (t *timeout) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	c := deadline.New(ctx, time.Now().Add(t.d))
	defer c.Cancel()
	t.next.invoke(c, evs, out)
	for k := range out {
		o := &out[k]
		if o.err != nil && !errors.Is(o.err, ErrCrashed) && errors.Is(c.Err(), context.DeadlineExceeded) {
			o.res, o.err = nil, ErrTimeout
		}
	}
}

// doneOf returns what ends ctx before its deadline, for an instance that waits for a call
// under ctx (the deadline is the instance's to keep, see instance.sweep): the parent's Done
// for the timeout stage's deadline.Context, which so makes no timer, and ctx.Done for any
// other. nil: nothing but the deadline ends ctx. A context wrapped around a deadline.Context
// (context.WithValue, a type of its own) is any other: its Done makes the timer, and the call
// still ends at its deadline and when its caller leaves.
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

var _ stage = (*timeout)(nil)
