package main

import (
	"fmt"
	"strings"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

func (r result) perSecond() float64 { return float64(r.done) / r.elapsed.Seconds() }

func (r result) pct(p float64) string {
	if len(r.lat) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", harness.Millis(harness.Percentile(r.lat, p)))
}

func (r result) errCell() string {
	if r.errors == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%v)", r.errors, r.firstErr)
}

// markdown is the report.
func (b *bench) markdown() string {
	var s strings.Builder
	s.WriteString(b.run.Preamble(1, "run"))
	fmt.Fprintf(&s, "Connects: %d connections, %d dialling at a time; each dials, sends a ping and waits for its reply, then closes.\n\n", b.opts.conns, b.opts.dialers)
	s.WriteString("| connect | connections/s | connect → reply p50 (ms) | p99 (ms) | errors | other load |\n|---|---|---|---|---|---|\n")
	for _, r := range b.connectRuns {
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %s |\n", r.what, harness.Thousands(r.perSecond()), r.pct(50), r.pct(99), r.errCell(), b.run.OtherLoad(r.other))
	}
	if len(b.connectRuns) == 2 && b.connectRuns[1].perSecond() > 0 {
		fmt.Fprintf(&s, "\nWith the connect function: %.2f × the connection rate of a JWT without one.\n", b.connectRuns[0].perSecond()/b.connectRuns[1].perSecond())
	}
	fmt.Fprintf(&s, "\nCalls: each client makes one call at a time for %s, the same JSON body (%d bytes) either way.\n\n", b.opts.duration, len(payload(0)))
	s.WriteString("| clients | transport | calls/s | p50 (ms) | p99 (ms) | errors | other load | socket ≥ HTTP |\n|---|---|---|---|---|---|---|---|\n")
	for i := 0; i+1 < len(b.callRuns); i += 2 {
		ws, h := b.callRuns[i], b.callRuns[i+1]
		verdict := harness.Verdict(ws.perSecond() >= h.perSecond())
		for _, r := range []result{ws, h} {
			fmt.Fprintf(&s, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", r.clients, r.what, harness.Thousands(r.perSecond()),
				r.pct(50), r.pct(99), r.errCell(), b.run.OtherLoad(r.other), verdict)
		}
	}
	s.WriteString("\n")
	return s.String()
}
