package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// OpenLoop sends GET requests on a fixed schedule, whatever the server does, and times each
// request from the moment it was due, not from the moment a sender got to it. A server that
// stalls makes the requests scheduled during the stall wait, and that wait is counted, so the
// percentiles do not hide stalls (no coordinated omission, as in wrk2).
type OpenLoop struct {
	// Rate is the number of requests per second.
	Rate int
	// Duration is how long requests are recorded.
	Duration time.Duration
	// Warmup is how long requests are sent at Rate before recording starts; default none.
	Warmup time.Duration
	// Conns is the number of senders, each keeping its own connection; default 64. A request
	// due while every sender is busy waits for one, and its wait counts.
	Conns int
	// Timeout bounds one request; default 5s. A request that times out counts as failed.
	Timeout time.Duration
}

// LatencyResult is what an open-loop run measured.
type LatencyResult struct {
	// Latencies are those of the recorded requests answered 200, sorted.
	Latencies []time.Duration
	// Sent is how many recorded requests were due, and Failed how many of them got no 200.
	Sent, Failed int
	// FirstError is the first failure, for the report.
	FirstError error
	// Lag is the scheduler's own lateness, sorted: how long after its due time each recorded
	// request was handed to a sender. It is part of every latency, so it bounds how precise
	// the percentiles can be on a busy machine.
	Lag []time.Duration
	// Elapsed is the time from the first recorded due time to the last answer; Sent/Elapsed is
	// the rate actually achieved.
	Elapsed time.Duration
}

type sample struct {
	latency time.Duration
	err     error
}

// Run sends GET url on the schedule until Warmup+Duration have passed and every answer is in.
func (o OpenLoop) Run(ctx context.Context, url string) (LatencyResult, error) {
	if o.Rate <= 0 || o.Duration <= 0 {
		return LatencyResult{}, fmt.Errorf("open loop: rate %d and duration %s must be positive", o.Rate, o.Duration)
	}
	conns := o.Conns
	if conns <= 0 {
		conns = 64
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	interval := time.Second / time.Duration(o.Rate)
	warm := int(o.Warmup / interval)
	total := warm + int(o.Duration/interval)

	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout}

	type job struct {
		i   int
		due time.Time
	}
	// Every request of the run fits in the queue, so the scheduler never blocks on senders.
	jobs := make(chan job, total)
	samples := make([]sample, total) // index i is written by the one sender that took job i
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				err := get(ctx, client, url)
				samples[j.i] = sample{latency: time.Since(j.due), err: err}
			}
		}()
	}

	start := time.Now().Add(10 * time.Millisecond)
	lag, err := Pace(ctx, start, interval, total, warm, func(i int, due time.Time) { jobs <- job{i: i, due: due} })
	close(jobs)
	wg.Wait()
	if err != nil {
		return LatencyResult{}, err
	}

	res := LatencyResult{Sent: total - warm, Elapsed: time.Since(start.Add(time.Duration(warm) * interval)), Lag: lag}
	res.Latencies = make([]time.Duration, 0, res.Sent)
	for _, s := range samples[warm:] {
		if s.err != nil {
			res.Failed++
			if res.FirstError == nil {
				res.FirstError = s.err
			}
			continue
		}
		res.Latencies = append(res.Latencies, s.latency)
	}
	slices.Sort(res.Latencies)
	slices.Sort(res.Lag)
	return res, nil
}

// get sends one GET and reads the whole answer; anything but a 200 is an error.
func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return err
}
