package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// Issue 4's goals.
const (
	goalKiBPerConn = 20.0
	goalFanoutP99  = 100 * time.Millisecond
)

// report is everything one wsbench run measured.
type report struct {
	opts   options
	run    *harness.Run
	rounds []round
}

// markdown renders the results: the run's context, the summary and the rounds.
func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString(r.run.Preamble(len(r.rounds), "round"))
	b.WriteString("| metric | edgefn | baseline (rawws) | ratio (edgefn ÷ baseline) | goal | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	if r.opts.only.Runs("fanout") {
		r.fanoutRows(&b)
	}
	if r.opts.only.Runs("deliveries") {
		r.deliveriesRows(&b)
	}
	fmt.Fprintf(&b, "\nCells are the median over the rounds, with the lowest and highest round in parentheses; ratios are taken per round, "+
		"edgefn against the baseline of the same round, then their median. Errors are summed over the rounds. %s; a round still "+
		"disturbed (in bold below) is left out of that metric's summary.\n\n", r.run.Retried())
	if r.opts.only.Runs("fanout") {
		r.fanoutTable(&b)
	}
	if r.opts.only.Runs("deliveries") {
		r.deliveriesTable(&b)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// fanoutRounds returns the rounds whose fan-out runs others did not disturb, and a note
// when that is not every round; with no such round, all of them, and says so.
func (r *report) fanoutRounds() ([]round, string) {
	return r.undisturbed(func(rd round, who string) float64 { return rd.fanout[who].other })
}

func (r *report) deliveriesRounds() ([]round, string) {
	return r.undisturbed(func(rd round, who string) float64 { return rd.deliveries[who].other })
}

// undisturbed keeps the rounds in which other processes used at most -max-other of the
// machine during both servers' runs, other giving that share for a server's run.
func (r *report) undisturbed(other func(round, string) float64) ([]round, string) {
	return harness.Undisturbed(r.rounds, func(rd round) bool {
		return other(rd, edgefnServer) <= r.run.MaxOther && other(rd, rawServer) <= r.run.MaxOther
	}, "; ")
}

// row writes one summary row of a metric measured on both servers, f giving a round's value
// of a server's result.
func row(b *strings.Builder, label string, rounds []round, f func(round, string) float64, prec int, goal, result string) {
	edge := harness.PerRound(rounds, func(rd round) float64 { return f(rd, edgefnServer) })
	raw := harness.PerRound(rounds, func(rd round) float64 { return f(rd, rawServer) })
	ratio := harness.PerRound(rounds, func(rd round) float64 { return f(rd, edgefnServer) / f(rd, rawServer) })
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", label, num(edge, prec), num(raw, prec), num(ratio, 2), goal, result)
}

func (r *report) fanoutRows(b *strings.Builder) {
	o := r.opts
	conns := harness.Thousands(float64(o.conns))
	kib := func(rd round, who string) float64 { return rd.fanout[who].kibPerConn() }
	mem := harness.PerRound(r.rounds, func(rd round) float64 { return kib(rd, edgefnServer) })
	row(b, fmt.Sprintf("server memory per connection: VmRSS growth ÷ clients, %s idle subscribers (KiB)", conns),
		r.rounds, kib, 1, fmt.Sprintf("< %.0f KiB", goalKiBPerConn), harness.Verdict(mem.Median < goalKiBPerConn))
	errs := func(who string) int64 {
		var n int64
		for _, rd := range r.rounds {
			n += rd.fanout[who].errors()
		}
		return n
	}
	fmt.Fprintf(b, "| errors with %s subscribers: failed dials or subscribes, connections dropped, publications missed, out of order or repeated (all rounds) | %d | %d | — | none | %s |\n",
		conns, errs(edgefnServer), errs(rawServer), harness.Verdict(errs(edgefnServer) == 0))
	rounds, note := r.fanoutRounds()
	pubs := fmt.Sprintf("%d publications to %s subscribers", o.pubs, conns)
	p := func(q float64) func(round, string) float64 {
		return func(rd round, who string) float64 { return ms(rd.fanout[who].p(q)) }
	}
	p99 := harness.PerRound(rounds, func(rd round) float64 { return p(99)(rd, edgefnServer) })
	row(b, fmt.Sprintf("fan-out, publish → last subscriber, p50 of %s (ms%s)", pubs, note), rounds, p(50), 1, "—", "info")
	row(b, fmt.Sprintf("fan-out, publish → last subscriber, p99 of %s (ms%s)", pubs, note), rounds, p(99), 1,
		fmt.Sprintf("< %d ms", goalFanoutP99.Milliseconds()), harness.Verdict(p99.Median < ms(goalFanoutP99)))
	row(b, fmt.Sprintf("fan-out, publish → median subscriber, p50 of %s (ms%s)", pubs, note), rounds,
		func(rd round, who string) float64 { return ms(harness.Percentile(rd.fanout[who].median, 50)) }, 1, "—", "info")
	row(b, fmt.Sprintf("CPU per delivery in the fan-out, server (µs%s)", note), rounds,
		func(rd round, who string) float64 { return rd.fanout[who].cpu.server }, 2, "—", "info")
}

func (r *report) deliveriesRows(b *strings.Builder) {
	o := r.opts
	rounds, note := r.deliveriesRounds()
	row(b, fmt.Sprintf("deliveries per second, %s subscribers on %d topics, %d HTTP publishers for %s (deliveries/s%s)",
		harness.Thousands(float64(o.subs)), o.topics, o.publishers, o.duration, note), rounds,
		func(rd round, who string) float64 { return rd.deliveries[who].rate() }, 0, "—", "info")
	row(b, fmt.Sprintf("publications accepted per second in that run (publications/s%s)", note), rounds,
		func(rd round, who string) float64 { return rd.deliveries[who].pubRate() }, 0, "—", "info")
	errs := func(who string) int64 {
		var n int64
		for _, rd := range r.rounds {
			n += rd.deliveries[who].errors()
		}
		return n
	}
	fmt.Fprintf(b, "| errors in that run: failed dials or subscribes or publishes, connections dropped, publications missed, out of order or repeated (all rounds) | %d | %d | — | none | %s |\n",
		errs(edgefnServer), errs(rawServer), harness.Verdict(errs(edgefnServer) == 0))
	row(b, fmt.Sprintf("CPU per delivery in that run, server (µs%s)", note), rounds,
		func(rd round, who string) float64 { return rd.deliveries[who].cpu.server }, 2, "—", "info")
}

func (r *report) fanoutTable(b *strings.Builder) {
	b.WriteString("| round | server | subscribed | connecting (s) | dial retries | VmRSS before → after (MiB) | KiB per connection | last subscriber p50, p99, max (ms) | median subscriber p50 (ms) | first publication, untimed (ms) | publish call p50 (ms) | CPU µs/delivery: server, wsbench | other load | runs | errors |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, rd := range r.rounds {
		for _, who := range order(i + 1) {
			x := rd.fanout[who]
			warm := "—"
			if len(x.warm) > 0 {
				warm = fmt.Sprintf("%.1f", ms(x.warm[0]))
			}
			fmt.Fprintf(b, "| %d | %s | %d | %.1f | %d | %.0f → %.0f | %.1f | %.1f, %.1f, %.1f | %.1f | %s | %.2f | %s | %s | %d | %d |\n",
				i+1, who, x.subscribed, x.dial.took.Seconds(), x.dial.retries, float64(x.rssBefore)/1024, float64(x.rssAfter)/1024,
				x.kibPerConn(), ms(x.p(50)), ms(x.p(99)), ms(x.p(100)), ms(harness.Percentile(x.median, 50)), warm,
				ms(harness.Percentile(x.publishCall, 50)), cpu(x.cpu), r.other(x.other), x.attempts, x.errors())
		}
	}
	b.WriteString("\n")
}

func (r *report) deliveriesTable(b *strings.Builder) {
	b.WriteString("| round | server | deliveries/s | publications/s | seconds | delivered | CPU µs/delivery: server, wsbench | cores busy | other load | runs | errors: missed, gaps, repeated, dropped, failed publishes |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, rd := range r.rounds {
		for _, who := range order(i + 1) {
			x := rd.deliveries[who]
			cores := "?"
			if x.cpu.ok {
				cores = fmt.Sprintf("%.2f", (x.cpu.server+x.cpu.bench)*x.rate()/1e6)
			}
			fmt.Fprintf(b, "| %d | %s | %.0f | %.0f | %.2f | %d | %s | %s | %s | %d | %d, %d, %d, %d, %d |\n",
				i+1, who, x.rate(), x.pubRate(), x.elapsed.Seconds(), x.delivered, cpu(x.cpu), cores, r.other(x.other), x.attempts,
				x.missing, x.gaps, x.dupes, x.dropped, x.pubErrors+int64(x.dial.errors()))
		}
	}
	b.WriteString("\n")
}

func (r *report) other(x float64) string { return r.run.OtherLoad(x) }

func cpu(c cpuPer) string {
	if !c.ok {
		return "?"
	}
	return fmt.Sprintf("%.2f, %.2f", c.server, c.bench)
}

// num formats a summary with prec decimals, with thousands separators when prec is 0.
func num(s harness.Summary, prec int) string {
	if prec == 0 {
		return s.Thousands()
	}
	return s.Format(prec, false)
}
