package harness

import (
	"context"
	"time"
)

// Pace calls send(i, due) for i from 0 to n-1, each at its due time start + i×interval, and
// returns the scheduler's own lateness from call warm on: how long after its due time each
// call was made. Open-loop senders time requests from their due time, so that lateness is part
// of every latency they report. Pace sleeps on a thread of its own with a precise timer (see
// lockPreciseTimer), as Go's timers could wake it a millisecond late, and stops at the first
// due time after ctx ends, returning ctx's error.
func Pace(ctx context.Context, start time.Time, interval time.Duration, n, warm int, send func(i int, due time.Time)) ([]time.Duration, error) {
	lockPreciseTimer()
	defer unlockPreciseTimer()
	lag := make([]time.Duration, 0, max(0, n-warm))
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if err := sleepPrecise(ctx, due); err != nil {
			return lag, err
		}
		if i >= warm {
			lag = append(lag, time.Since(due))
		}
		send(i, due)
	}
	return lag, nil
}
