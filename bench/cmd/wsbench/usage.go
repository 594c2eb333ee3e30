package main

import (
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cpuPer is CPU time per delivery in µs: the server's, and wsbench's (clients, publishers).
type cpuPer struct {
	server, bench float64
	ok            bool
}

// perDelivery splits the CPU time u of a run among its n deliveries: the server's, its child
// processes' included, and wsbench's own.
func perDelivery(u harness.Usage, n int64) cpuPer {
	if !u.OK || n <= 0 {
		return cpuPer{}
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n) }
	return cpuPer{server: us(u.Server + u.Children), bench: us(u.Self), ok: true}
}
