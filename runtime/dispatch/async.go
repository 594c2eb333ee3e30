package dispatch

import (
	"context"

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
)

// AsyncRunner runs the asynchronous HTTP invocations of docs/async.md (gateway/async implements
// it): the gateway queues them on a queue per function, and the Manager consumes that queue
// for every function with an HTTP trigger that allows async calls.
type AsyncRunner interface {
	// Queue names the queue of function's async invocations.
	Queue(function string) string
	// Decode turns a queued invocation back into the event to invoke.
	Decode(d *triggers.Delivery) (*event.Event, error)
	// Retryable reports whether a failed invocation should be tried again (while attempts
	// remain) rather than answered with its error.
	Retryable(err error) bool
	// Complete stores and publishes the outcome of an invocation: its result (err nil, its
	// effects carried out) or its final error. An error of Complete itself retries.
	Complete(ctx context.Context, function string, ev *event.Event, res *event.Result, err error) error
}
