package fn

import "github.com/edgefn/edgefn/runtime/event"

// Error is a handler error that carries the HTTP status to answer with. Its message reaches
// HTTP callers, so say there what the caller should know and nothing more.
type Error = event.Error

// Errorf returns an *Error with the status and a formatted message. Queue and stream deliveries
// that fail with it are retried like any other failure.
func Errorf(status int, format string, args ...any) error {
	return event.Errorf(status, format, args...)
}
