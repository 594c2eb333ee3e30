package main

import (
	"fmt"
	"strings"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// goalRatio is issue 19's goal: edgefn's RPC at least 0.7 × the tutorials' raw server, in
// calls per second and in the speed of a call (the raw server's latency ÷ edgefn's).
const goalRatio = 0.7

// report is everything one rpcbench run measured.
type report struct {
	opts   options
	run    *harness.Run
	broker string
	rounds []roundResult
}

// figure is one row of the results: a value per run, and whether more is better.
type figure struct {
	name   string
	value  func(result) float64
	higher bool
	format string
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString(r.run.Preamble(len(r.rounds), "round", r.broker))
	figures := []figure{
		{"calls/s", func(x result) float64 { return x.rate() }, true, "%.0f"},
		{"round trip p50 (ms)", func(x result) float64 { return ms(pct(x.lat, 50)) }, false, "%.3f"},
		{"round trip p99 (ms)", func(x result) float64 { return ms(pct(x.lat, 99)) }, false, "%.3f"},
	}
	b.WriteString("| metric | edgefn | baseline: the tutorials' amqp091 RPC server | ratio (edgefn's speed ÷ the baseline's) | goal | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	for _, c := range r.opts.callers {
		rounds, note := harness.Undisturbed(r.rounds, func(rd roundResult) bool {
			return rd.runs[c]["edgefn"].other <= r.run.MaxOther && rd.runs[c]["raw"].other <= r.run.MaxOther
		}, "; ")
		for _, f := range figures {
			var es, rs, ratios []float64
			for _, rd := range rounds {
				e, raw := f.value(rd.runs[c]["edgefn"]), f.value(rd.runs[c]["raw"])
				es, rs = append(es, e), append(rs, raw)
				if f.higher {
					ratios = append(ratios, e/raw)
				} else {
					ratios = append(ratios, raw/e)
				}
			}
			ratio := harness.Summarize(ratios)
			fmt.Fprintf(&b, "| RPC through a queue-triggered no-op function, %d %s, %s%s | %s | %s | %s | ≥ %.1f × baseline | %s |\n",
				c, plural(c, "client", "clients"), f.name, note, cell(harness.Summarize(es), f.format), cell(harness.Summarize(rs), f.format),
				cell(ratio, "%.2f"), goalRatio, harness.Verdict(ratio.Median >= goalRatio))
		}
	}
	fmt.Fprintf(&b, "\nEach client is the tutorials' RPC client (its own connection and exclusive reply queue, one call at a time), "+
		"calling for %s; a call is timed from its publish to its reply. The ratio is edgefn ÷ baseline for calls/s and baseline ÷ edgefn for "+
		"latencies, taken per round, then their median. Cells are the median over the rounds, with the lowest and highest round in parentheses. %s.\n\n",
		r.opts.duration, r.run.Retried())
	b.WriteString("| round | clients | server | p50, p99 (ms) | calls/s | CPU per call, µs: server · plugin · RabbitMQ · clients | failed | other load |\n")
	b.WriteString("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, rd := range r.rounds {
		for _, c := range r.opts.callers {
			for _, who := range rd.order {
				x := rd.runs[c][who]
				fmt.Fprintf(&b, "| %d | %d | %s | %.3f, %.3f | %.0f | %.0f · %.0f · %.0f · %.0f | %d | %s |\n", rd.n, c, who,
					ms(pct(x.lat, 50)), ms(pct(x.lat, 99)), x.rate(), x.cpu.server, x.cpu.plugin, x.cpu.broker, x.cpu.clients, x.failed, r.run.OtherLoad(x.other))
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// cell formats a summary as "median (min … max)".
func cell(s harness.Summary, format string) string {
	if s.N == 1 {
		return fmt.Sprintf(format, s.Median)
	}
	return fmt.Sprintf(format+" ("+format+" … "+format+")", s.Median, s.Min, s.Max)
}
