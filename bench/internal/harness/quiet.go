package harness

import (
	"context"
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
