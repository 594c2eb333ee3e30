package harness

import (
	"context"
	"fmt"
	"time"
)

// Busy returns the share of the machine's CPU (0 to 1) that was busy during the next window.
func Busy(ctx context.Context, window time.Duration) (float64, error) {
	b0, t0, err := MachineCPU()
	if err != nil {
		return 0, err
	}
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	b1, t1, err := MachineCPU()
	if err != nil {
		return 0, err
	}
	if t1 <= t0 {
		return 0, nil
	}
	return float64(b1-b0) / float64(t1-t0), nil
}

// WaitQuiet waits until the machine's CPU was at most maxBusy busy for a whole second, or
// until maxWait has passed, and returns the last busy share seen and how long it waited. On a
// machine shared with other builds, it keeps a measurement from starting in the middle of one.
func WaitQuiet(ctx context.Context, maxBusy float64, maxWait time.Duration) (busy float64, waited time.Duration, err error) {
	start := time.Now()
	for {
		if busy, err = Busy(ctx, time.Second); err != nil {
			return 0, time.Since(start), err
		}
		waited = time.Since(start)
		if busy <= maxBusy || waited >= maxWait {
			return busy, waited, nil
		}
	}
}

// QuietWait records one wait for a quiet machine before a measurement.
type QuietWait struct {
	Waited time.Duration
	Busy   float64
}

// QuietNote is the report's sentence on how long measurements waited for a machine at most
// quiet busy (what they waited for, e.g. "the machine"), and how many started busier anyway
// after maxWait.
func QuietNote(waits []QuietWait, what string, quiet float64, maxWait time.Duration) string {
	var total time.Duration
	busy := 0
	for _, w := range waits {
		total += w.Waited
		if w.Busy > quiet {
			busy++
		}
	}
	note := fmt.Sprintf("Each measurement waited for %s to be at most %.0f%% busy for a second (%s of waiting in all)",
		what, 100*quiet, total.Round(time.Second))
	if busy > 0 {
		note += fmt.Sprintf("; %d of %d started busier after waiting %s", busy, len(waits), maxWait)
	}
	return note + ".\n\n"
}
