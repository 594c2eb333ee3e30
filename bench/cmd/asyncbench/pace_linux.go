//go:build linux

package main

import (
	"runtime"
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK.
const prSetTimerSlack = 29

// lockPreciseTimer pins the scheduler goroutine to its thread and gives that thread a 1 ns
// timer slack, as the harness's open-loop sender does: Go's timers wake up to 1 ms late on an
// idle runtime, two intervals at 2,000 req/s.
func lockPreciseTimer() {
	runtime.LockOSThread()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
}

// unlockPreciseTimer restores the default slack and unpins the goroutine.
func unlockPreciseTimer() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 0, 0)
	runtime.UnlockOSThread()
}

// sleepUntil blocks the thread until t.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
