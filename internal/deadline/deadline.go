// Package deadline is a context with a deadline that makes its timer only when someone waits
// for it. edgefn gives every invocation a deadline, on the gateway (the function's timeout)
// and in the plugin (the handler's ctx), and most invocations end long before it with no one
// ever asking for Done. context.WithDeadline costs a context, a timer armed and stopped and a
// channel each time. A Context behaves the same for those who wait on it, and costs one small
// allocation for the others. runtime's BenchmarkDeadline and pluginserver's BenchmarkCall
// compare the two on the path of a call (bench/README.md).
package deadline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Context is a parent context with a deadline. It is done at the deadline, when the parent is
// done, or when Cancel is called, as a context.WithDeadline is; its Err says which, with the
// errors of the context package. It makes that context.WithDeadline, and its timer, only when
// something asks for Done (a select, a child context, a library that watches ctx). Code that
// waits for many calls may instead wait for the Parent's Done and for the Deadline on a timer
// of its own.
type Context struct {
	parent context.Context
	when   time.Time

	mu    sync.Mutex // serializes making inner with Cancel
	inner atomic.Pointer[withDeadline]
	// canceled is when Cancel was called before Done made inner (unix nanoseconds), or 0.
	canceled atomic.Int64
}

type withDeadline struct {
	context.Context
	cancel context.CancelFunc
}

// New returns parent with the deadline when, or with parent's own when that is earlier.
func New(parent context.Context, when time.Time) *Context {
	c := &Context{}
	c.Start(parent, when)
	return c
}

// Start makes c, a zero Context, what New returns, in memory the caller allocated: a struct
// that embeds a Context and adds values of its own costs one allocation for all of them. It
// must be called before c is used, and only once.
func (c *Context) Start(parent context.Context, when time.Time) {
	if pd, ok := parent.Deadline(); ok && pd.Before(when) {
		when = pd
	}
	c.parent, c.when = parent, when
}

// Parent returns the context the deadline was added to.
func (c *Context) Parent() context.Context { return c.parent }

// Deadline returns the deadline.
func (c *Context) Deadline() (time.Time, bool) { return c.when, true }

// Done returns a channel closed at the deadline, when the parent is done, or at Cancel.
func (c *Context) Done() <-chan struct{} {
	if in := c.inner.Load(); in != nil {
		return in.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.inner.Load()
	if in == nil {
		in = &withDeadline{}
		if at := c.canceled.Load(); at != 0 && at < c.when.UnixNano() {
			in.Context, in.cancel = context.WithCancel(c.parent) // canceled before the deadline
			in.cancel()
		} else {
			in.Context, in.cancel = context.WithDeadline(c.parent, c.when)
		}
		c.inner.Store(in)
	}
	return in.Done()
}

// Err returns nil until the context is done, then why: the parent's error, DeadlineExceeded,
// or Canceled.
func (c *Context) Err() error {
	if in := c.inner.Load(); in != nil {
		return in.Err()
	}
	// No one waits on Done: tell what it would say.
	if err := c.parent.Err(); err != nil {
		return err
	}
	if at := c.canceled.Load(); at != 0 && at < c.when.UnixNano() {
		return context.Canceled
	}
	if !time.Now().Before(c.when) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value returns the parent's value for key.
func (c *Context) Value(key any) any {
	if in := c.inner.Load(); in != nil {
		return in.Value(key) // the context package finds the cancelable context behind Done here
	}
	return c.parent.Value(key)
}

// Cancel ends the context; Err says Canceled from then on, or DeadlineExceeded when the
// deadline passed first. It is idempotent and releases the timer Done made, if it made one.
func (c *Context) Cancel() {
	c.mu.Lock()
	in := c.inner.Load()
	if in == nil && c.canceled.Load() == 0 {
		c.canceled.Store(time.Now().UnixNano())
	}
	c.mu.Unlock()
	if in != nil {
		in.cancel()
	}
}

var _ context.Context = (*Context)(nil)
