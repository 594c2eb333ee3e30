//go:build !linux

package main

import "time"

func lockPreciseTimer()   {}
func unlockPreciseTimer() {}

// sleepUntil sleeps on Go's timers, which may wake up to a millisecond late.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
