package main

import (
	"fmt"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// result is one run: msgs messages consumed and acknowledged in elapsed.
type result struct {
	msgs    int
	elapsed time.Duration
	// cpu is the CPU time per message during the timed part.
	cpu cpuPerMessage
	// other is the share of the machine's CPU that other processes used meanwhile.
	other float64
	// attempts is how many runs were made to get one that others did not disturb.
	attempts int

	// For edgefn on a broker: startup is from exec to ready, and early how many messages
	// had been delivered (stream: read by the group; queue: invoked) by then.
	startup time.Duration
	early   int64
	// For the stream runs: the XREADGROUP and XACK commands Redis served meanwhile.
	calls *redisCalls
	// For the embedded backends: when the last POST /burst returned, from the first call.
	produced time.Duration
}

// rate is the result in messages per second.
func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.msgs) / r.elapsed.Seconds()
}

// extra describes the fields that only some runs have, for the progress log.
func (r result) extra() string {
	s := ""
	if r.startup > 0 {
		s += fmt.Sprintf("  startup %.0f ms, %d delivered before ready", harness.Millis(r.startup), r.early)
	}
	if r.calls != nil {
		s += fmt.Sprintf("  %d XREADGROUP, %d XACK", r.calls.xreadgroup, r.calls.xack)
	}
	if r.produced > 0 {
		s += fmt.Sprintf("  produced in %.3f s", r.produced.Seconds())
	}
	return s
}

// pair is one round's baseline run and edgefn run of the same metric.
type pair struct {
	raw, edge result
}

// ratio is edgefn's rate over the baseline's.
func (p pair) ratio() float64 {
	if p.raw.rate() == 0 {
		return 0
	}
	return p.edge.rate() / p.raw.rate()
}

// round is what one round measured; a metric that was not selected stays zero.
type round struct {
	stream, queue       pair
	memQueue, memStream result
}

// cpuPerMessage is the CPU time of a run per message, in µs: the gateway, its plugins, the
// broker and triggerbench (the baseline consumer itself, or the producers and the polling).
// When the machine is saturated, messages per second are about cores ÷ their sum.
type cpuPerMessage struct {
	gateway, plugin, broker, bench float64
	ok                             bool
}

func (c cpuPerMessage) total() float64 { return c.gateway + c.plugin + c.broker + c.bench }

// perMessage splits the CPU time u of a run among its msgs messages: the gateway is the
// server, its plugins are the server's children, and the broker the further processes counted.
func perMessage(u harness.Usage, msgs int) cpuPerMessage {
	if !u.OK || msgs <= 0 {
		return cpuPerMessage{}
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(msgs) }
	return cpuPerMessage{gateway: us(u.Server), plugin: us(u.Children), broker: us(u.Procs), bench: us(u.Self), ok: true}
}
