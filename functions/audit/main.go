// Command audit is a stream consumer: it reads JobDone events from the stream "job-events"
// (its manifest's filter passes only those) and keeps a count per node, logging each one.
package main

import (
	"context"
	"sync/atomic"

	"github.com/edgefn/edgefn/runtime/fn"
)

var seen atomic.Int64

func main() {
	fn.Serve(fn.HandlerFunc(Audit))
}

// Audit records one JobDone event.
func Audit(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	var done struct {
		ID  string `json:"id"`
		Sum int    `json:"sum"`
	}
	if err := ev.Decode(&done); err != nil {
		return nil, fn.Errorf(400, "not a JobDone event: %v", err)
	}
	n := seen.Add(1)
	fn.Logger(ctx).Info("audited", "job", done.ID, "sum", done.Sum, "event", ev.ID, "seen", n)
	return nil, nil
}
