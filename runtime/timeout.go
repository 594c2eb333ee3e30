package runtime

import (
	"time"
)

// withTimeout gives each invocation the function's deadline; the plugin sees it on its ctx, and
// a call that outlives it fails with ErrTimeout (504) whatever the plugin answers later.
func withTimeout(next Invoker, d time.Duration) Invoker { return &timeout{next: next, d: d} }
