package pluginserver

import "time"

// workerIdle is how long an idle worker waits for another invocation before it exits.
const workerIdle = 10 * time.Second

// workers runs invocations on long-lived goroutines. A fresh goroutine per invocation would
// grow its stack from the minimum on every call (encoding/json alone goes deep), which costs
// more than a small handler; a worker keeps its grown stack. There is no cap: an invocation
// that finds no idle worker starts one, so handlers never wait for each other (the gateway
// bounds what is in flight).
type workers struct {
	jobs chan func()
}

func newWorkers() *workers { return &workers{jobs: make(chan func())} }

// run runs f on an idle worker, or on a new one.
func (w *workers) run(f func()) {
	select {
	case w.jobs <- f:
	default:
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		t.Reset(workerIdle)
		select {
		case f = <-w.jobs:
		case <-t.C:
			return
		}
	}
}
