//go:build linux

package harness

import (
	"context"
	"runtime"
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK.
const prSetTimerSlack = 29

// lockPreciseTimer pins the calling goroutine to its thread and makes that thread's sleeps
// precise to some 20 µs: Go's own timers wake up to a millisecond late when nothing else
// runs, which at 2,000 req/s would be two intervals. unlockPreciseTimer undoes both.
//
// The goroutine must not exit while locked: the runtime would then end the thread, and the
// kernel would send Pdeathsig to every server process that thread happened to start.
func lockPreciseTimer() {
	runtime.LockOSThread()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
}

// unlockPreciseTimer gives the thread its default timer slack back and unpins it.
func unlockPreciseTimer() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 0, 0) // 0: the default
	runtime.UnlockOSThread()
}

// sleepPrecise blocks the thread until t, then returns ctx's error.
func sleepPrecise(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	ts := syscall.NsecToTimespec(int64(d))
	// A signal (the runtime preempts goroutines with SIGURG) ends the sleep early with EINTR
	// and leaves the time still to sleep in ts.
	for {
		if err := syscall.Nanosleep(&ts, &ts); err != syscall.EINTR {
			break
		}
	}
	return ctx.Err()
}
