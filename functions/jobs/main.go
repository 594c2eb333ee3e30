// Command jobs accepts work over HTTP and queues it: POST /jobs with a JSON job answers 202
// and emits JobSubmitted to the queue "jobs", where the worker function picks it up.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	fn.Serve(fn.HandlerFunc(Submit))
}

// Job is a unit of work: sum the numbers 1..N. Fail makes the worker fail it, to show retries
// and the dead-letter queue.
type Job struct {
	ID   string `json:"id"`
	N    int    `json:"n"`
	Fail bool   `json:"fail,omitempty"`
}

// Submit queues the job in the request body.
func Submit(_ context.Context, ev *fn.Event) (*fn.Result, error) {
	var job Job
	if err := ev.Decode(&job); err != nil {
		return nil, fn.Errorf(400, "a job is JSON like {\"n\": 10}: %v", err)
	}
	if job.N < 0 || job.N > 1_000_000 {
		return nil, fn.Errorf(422, "n must be between 0 and 1000000")
	}
	if job.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		job.ID = hex.EncodeToString(b[:])
	}
	return fn.JSON(202, job).Emit(fn.ToQueue("jobs", "JobSubmitted", job).WithID(job.ID)), nil
}
