package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// report is everything one asyncbench run measured.
type report struct {
	opts   options
	run    *harness.Run
	rounds []roundResult
}

// metric is one row of the summary: a value per round for the async call, and the sync
// baseline's, when it has one.
type metric struct {
	name       string
	async      func(result) float64
	sync       func(result) float64 // nil: no baseline
	unitFormat string
}

func (r *report) markdown() string {
	var b strings.Builder
	o := r.opts
	b.WriteString(r.run.Preamble(len(r.rounds), "round"))

	at := fmt.Sprintf("at %d req/s for %s, open loop", o.rate, o.duration)
	p := func(sel func(result) []time.Duration, q float64) func(result) float64 {
		return func(x result) float64 { return ms(pct(sel(x), q)) }
	}
	answer := func(x result) []time.Duration { return x.answer }
	push := func(x result) []time.Duration { return x.push }
	e2e := func(x result) []time.Duration { return x.e2e }
	metrics := []metric{
		{"answer, p50: async 202 · sync 200 (ms), " + at, p(answer, 50), p(answer, 50), "%.2f"},
		{"answer, p99: async 202 · sync 200 (ms), " + at, p(answer, 99), p(answer, 99), "%.2f"},
		{"202 → reply received on the WebSocket, p50 (ms)", p(push, 50), nil, "%.2f"},
		{"202 → reply received on the WebSocket, p99 (ms)", p(push, 99), nil, "%.2f"},
		{"end to end, p50: request due → reply on the WebSocket · sync 200 (ms)", p(e2e, 50), p(answer, 50), "%.2f"},
		{"end to end, p99: request due → reply on the WebSocket · sync 200 (ms)", p(e2e, 99), p(answer, 99), "%.2f"},
	}
	b.WriteString("| metric | async | sync call (baseline) | difference (async − sync) |\n")
	b.WriteString("| --- | ---: | ---: | ---: |\n")
	for _, mt := range metrics {
		var as, ss, ds []float64
		for _, rd := range r.rounds {
			a := mt.async(rd.runs[modeAsync])
			as = append(as, a)
			if mt.sync != nil {
				s := mt.sync(rd.runs[modeSync])
				ss, ds = append(ss, s), append(ds, a-s)
			}
		}
		syncCell, diffCell := "—", "—"
		if mt.sync != nil {
			syncCell = cell(harness.Summarize(ss), mt.unitFormat, false)
			diffCell = cell(harness.Summarize(ds), mt.unitFormat, true)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mt.name, cell(harness.Summarize(as), mt.unitFormat, false), syncCell, diffCell)
	}
	var failed [2]int
	for _, rd := range r.rounds {
		failed[0] += rd.runs[modeAsync].failed
		failed[1] += rd.runs[modeSync].failed
	}
	fmt.Fprintf(&b, "| failed requests: no 200/202, or no reply on the WebSocket within %s (all rounds) | %d | %d | — |\n", o.timeout, failed[0], failed[1])

	fmt.Fprintf(&b, "\nCells are the median over the rounds, with the lowest and highest round in parentheses; differences are taken "+
		"per round, then their median. %s.\n\n", r.run.Retried())

	b.WriteString("| round | call | answer p50, p99 (ms) | 202 → reply p50, p99 (ms) | end to end p50, p99 (ms) | replies in the subscribe reply | rate achieved | sender lag p99 (ms) | other load | runs | failed |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, rd := range r.rounds {
		for _, mode := range rd.order {
			x := rd.runs[mode]
			pushCell, e2eCell, hist := "—", "—", "—"
			if mode == modeAsync {
				pushCell = fmt.Sprintf("%.3f, %.3f", ms(pct(x.push, 50)), ms(pct(x.push, 99)))
				e2eCell = fmt.Sprintf("%.3f, %.3f", ms(pct(x.e2e, 50)), ms(pct(x.e2e, 99)))
				hist = fmt.Sprintf("%d of %d", x.fromHistory, len(x.push))
			}
			rate := 0.0
			if x.elapsed > 0 {
				rate = float64(x.sent) / x.elapsed.Seconds()
			}
			fmt.Fprintf(&b, "| %d | %s | %.3f, %.3f | %s | %s | %s | %.0f/s | %.3f | %s | %d | %d |\n",
				rd.n, mode, ms(pct(x.answer, 50)), ms(pct(x.answer, 99)), pushCell, e2eCell, hist, rate,
				ms(pct(x.lag, 99)), r.run.OtherLoad(x.other), rd.tries[mode], x.failed)
		}
	}
	for _, rd := range r.rounds {
		for _, mode := range rd.order {
			if e := rd.runs[mode].firstErr; e != nil {
				fmt.Fprintf(&b, "\nRound %d, %s, first failure: `%v`\n", rd.n, mode, e)
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// cell formats a summary as "median (min … max)", with signs for differences.
func cell(s harness.Summary, format string, signed bool) string {
	if signed {
		format = strings.Replace(format, "%", "%+", 1)
	}
	if s.N == 1 {
		return fmt.Sprintf(format, s.Median)
	}
	return fmt.Sprintf(format+" ("+format+" … "+format+")", s.Median, s.Min, s.Max)
}
