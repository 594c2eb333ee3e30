package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
)

// withTimeout gives each invocation the function's deadline; the plugin sees it on its ctx, and
// a call that outlives it fails with ErrTimeout (504) whatever the plugin answers later.
func withTimeout(next Invoker, d time.Duration) Invoker {
	return InvokerFunc(func(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		res, err := next.Invoke(ctx, ev)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrCrashed) {
			return nil, ErrTimeout
		}
		return res, err
	})
}
