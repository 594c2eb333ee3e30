//go:build !linux

package harness

import (
	"context"
	"time"
)

func lockPreciseTimer() {}

func unlockPreciseTimer() {}

// sleepPrecise sleeps until t with Go's timers, which may wake up to a millisecond late.
func sleepPrecise(ctx context.Context, t time.Time) error {
	time.Sleep(time.Until(t))
	return ctx.Err()
}
