package event

import "fmt"

// Error is a handler error that carries the HTTP status to answer with. Its message reaches
// HTTP callers, so say there what the caller should know and nothing more.
type Error struct {
	// Status is the HTTP status, e.g. 400 or 409.
	Status int
	// Message is shown to the caller.
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the status and a formatted message. Queue and stream deliveries
// that fail with it are retried like any other failure.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}
