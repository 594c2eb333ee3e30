// Command worker is a queue worker: it takes JobSubmitted messages from the queue "jobs",
// does the work, and emits JobDone to the stream "job-events". A job with "fail": true fails
// every attempt, so it is retried with backoff and then dead-lettered to "jobs.dlq"
// (see `edgefn dlq list jobs`).
package main

import (
	"context"
	"errors"

	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	fn.Serve(fn.HandlerFunc(Work))
}

// Job is what the jobs function queues.
type Job struct {
	ID   string `json:"id"`
	N    int    `json:"n"`
	Fail bool   `json:"fail,omitempty"`
}

// Done is the JobDone event.
type Done struct {
	ID  string `json:"id"`
	Sum int    `json:"sum"`
}

// Work sums 1..N.
func Work(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	var job Job
	if err := ev.Decode(&job); err != nil {
		return nil, err // retried, then dead-lettered: a poison message does not block the queue
	}
	if job.Fail {
		return nil, errors.New("job asked to fail")
	}
	sum := 0
	for i := 1; i <= job.N; i++ {
		sum += i
	}
	fn.Logger(ctx).Info("job done", "job", job.ID, "attempt", ev.Attempt, "sum", sum)
	return fn.Status(200).Emit(fn.ToStream("job-events", "JobDone", Done{ID: job.ID, Sum: sum}).WithSubject(job.ID)), nil
}
