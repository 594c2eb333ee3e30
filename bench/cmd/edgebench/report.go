package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// The goals of the issue.
const (
	goalRatio   = 0.6
	goalP99     = 1.0  // ms added at p99
	goalColdRun = 50.0 // ms from deploy to first 200
)

// Markers around the results section of the README.
const (
	startMarker = "<!-- results:start -->"
	endMarker   = "<!-- results:end -->"
)

// report is everything one edgebench run measured.
type report struct {
	opts    options
	machine machine
	// tree says what the binaries were built from.
	tree              string
	started, finished time.Time
	rounds            []round
	cold              coldResult
	waits             []harness.QuietWait
}

// perRound summarises f over rounds.
func perRound(rounds []round, f func(round) float64) harness.Summary {
	xs := make([]float64, len(rounds))
	for i, rd := range rounds {
		xs[i] = f(rd)
	}
	return harness.Summarize(xs)
}

// undisturbed returns the rounds in which other processes used at most -max-other of the
// machine during both runs of a kind (foreign tells how much they used), and a note for the
// table when that is not every round. With no such round it returns them all, and says so.
func (r *report) undisturbed(foreign func(measurement) float64) ([]round, string) {
	var clean []round
	for _, rd := range r.rounds {
		if foreign(rd.raw) <= r.opts.maxOther && foreign(rd.edge) <= r.opts.maxOther {
			clean = append(clean, rd)
		}
	}
	switch {
	case len(clean) == len(r.rounds):
		return clean, ""
	case len(clean) == 0:
		return r.rounds, " — every round disturbed by other work, not conclusive"
	}
	return clean, fmt.Sprintf(" — %d of %d rounds undisturbed", len(clean), len(r.rounds))
}

func percentileMs(l harness.LatencyResult, p float64) float64 {
	return harness.Millis(harness.Percentile(l.Latencies, p))
}

// valid is false when any request of a measurement failed.
func (r *report) valid() bool {
	for _, rd := range r.rounds {
		for _, x := range []measurement{rd.raw, rd.edge} {
			if x.hello.Non2xx > 0 || x.hello.SocketErrors > 0 || x.latency.Failed > 0 {
				return false
			}
		}
	}
	return true
}

// markdown renders the results section: the run's context, the summary table, the rounds.
func (r *report) markdown() string {
	var b strings.Builder
	m := r.machine
	fmt.Fprintf(&b, "Measured %s on %d × %s (Linux %s), %s, %s. Load average before %s, after %s.\n\n",
		r.started.Format("2006-01-02 15:04 MST"), m.cpus, m.model, m.kernel, m.goVersion, m.wrkVersion, m.loadBefore, m.loadAfter)
	fmt.Fprintf(&b, "Command: `%s` (%d rounds; took %s), on %s.\n\n", r.command(), len(r.rounds),
		r.finished.Sub(r.started).Round(time.Second), r.tree)
	b.WriteString(harness.QuietNote(r.waits, "the machine", r.opts.quiet, r.opts.quietWait))
	if !r.valid() {
		b.WriteString("**Some requests failed: these numbers are not valid (see the rounds).**\n\n")
	}
	r.summaryTable(&b)
	fmt.Fprintf(&b, "\nCells are the median over the rounds, with the lowest and highest round in parentheses. "+
		"Ratios and differences are taken per round, edgefn against the baseline run just before it, then their median. "+
		"A run during which other processes used more than %.0f%% of the machine was measured again (up to %d times, keeping the least disturbed); "+
		"a round still disturbed (in bold below) is left out of that metric's summary. "+
		"Cold starts are the median of %d deploys (fastest … slowest).\n\n", 100*r.opts.maxOther, r.opts.attempts, len(r.cold.api))
	r.roundsTable(&b)
	b.WriteString("\n")
	r.coldTable(&b)
	return b.String()
}

func (r *report) command() string {
	o := r.opts
	cmd := "go run ./bench/cmd/edgebench"
	defaults := options{rounds: 5, threads: 2, conns: 64, duration: 10 * time.Second, warmup: 2 * time.Second,
		rate: 2000, latencyDuration: 10 * time.Second, coldStarts: 20}
	add := func(differs bool, flag string, v any) {
		if differs {
			cmd += fmt.Sprintf(" -%s %v", flag, v)
		}
	}
	add(o.rounds != defaults.rounds, "rounds", o.rounds)
	add(o.threads != defaults.threads, "threads", o.threads)
	add(o.conns != defaults.conns, "conns", o.conns)
	add(o.duration != defaults.duration, "duration", o.duration)
	add(o.warmup != defaults.warmup, "warmup", o.warmup)
	add(o.rate != defaults.rate, "rate", o.rate)
	add(o.latencyDuration != defaults.latencyDuration, "latency-duration", o.latencyDuration)
	add(o.coldStarts != defaults.coldStarts, "coldstarts", o.coldStarts)
	add(o.quiet != 0.15, "quiet", o.quiet)
	add(o.quietWait != time.Minute, "quiet-wait", o.quietWait)
	add(o.maxOther != 0.25, "max-other", o.maxOther)
	add(o.attempts != 3, "attempts", o.attempts)
	add(o.prebuilt != "", "prebuilt", o.prebuilt)
	add(o.write != "", "write", o.write)
	return cmd
}

func (r *report) summaryTable(b *strings.Builder) {
	o := r.opts
	b.WriteString("| metric | edgefn | baseline (raw Fiber) | ratio or difference | goal | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")

	tps, tpNote := r.undisturbed(func(m measurement) float64 { return m.foreignHello })
	edge := perRound(tps, func(rd round) float64 { return rd.edge.hello.RPS })
	raw := perRound(tps, func(rd round) float64 { return rd.raw.hello.RPS })
	ratio := perRound(tps, func(rd round) float64 { return rd.edge.hello.RPS / rd.raw.hello.RPS })
	fmt.Fprintf(b, "| throughput, GET /hello/x, `wrk -t%d -c%d -d%s` (req/s%s) | %s | %s | %s | ≥ %.1f × baseline | %s |\n",
		o.threads, o.conns, o.duration, tpNote, rps(edge), rps(raw), num(ratio, 2, false), goalRatio, verdict(ratio.Median >= goalRatio))

	lats, latNote := r.undisturbed(func(m measurement) float64 { return m.foreignLatency })
	for _, p := range []float64{50, 99, 99.9} {
		e := perRound(lats, func(rd round) float64 { return percentileMs(rd.edge.latency, p) })
		a := perRound(lats, func(rd round) float64 { return percentileMs(rd.raw.latency, p) })
		d := perRound(lats, func(rd round) float64 { return percentileMs(rd.edge.latency, p) - percentileMs(rd.raw.latency, p) })
		goal, result := "—", "info"
		if p == 99 {
			goal, result = fmt.Sprintf("< %.0f ms added", goalP99), verdict(d.Median < goalP99)
		}
		fmt.Fprintf(b, "| latency p%g at %d req/s for %s, open loop (ms%s) | %s | %s | %s | %s | %s |\n",
			p, o.rate, o.latencyDuration, latNote, num(e, 2, false), num(a, 2, false), num(d, 2, true), goal, result)
	}

	api := coldSummary(r.cold.api)
	cli := coldSummary(r.cold.cli)
	fmt.Fprintf(b, "| cold start, admin API deploy → first 200 (ms) | %s | — | — | < %.0f ms | %s |\n",
		num(api, 1, false), goalColdRun, verdict(api.Median < goalColdRun))
	fmt.Fprintf(b, "| cold start, `edgefn deploy` CLI → first 200 (ms) | %s | — | — | < %.0f ms | %s |\n",
		num(cli, 1, false), goalColdRun, verdict(cli.Median < goalColdRun))

	ec := perRound(tps, func(rd round) float64 { return rd.edge.cpu.total() })
	rc := perRound(tps, func(rd round) float64 { return rd.raw.cpu.total() })
	cr := perRound(tps, func(rd round) float64 { return rd.raw.cpu.total() / rd.edge.cpu.total() })
	fmt.Fprintf(b, "| CPU per request in the throughput run, server + plugin + wrk (µs%s) | %s | %s | %s (baseline ÷ edgefn) | — | info |\n",
		tpNote, num(ec, 1, false), num(rc, 1, false), num(cr, 2, false))

	nf := perRound(tps, func(rd round) float64 { return rd.edge.notFound.RPS })
	nfRatio := perRound(tps, func(rd round) float64 { return rd.edge.notFound.RPS / rd.raw.hello.RPS })
	fmt.Fprintf(b, "| gateway alone: GET of a path with no route, 404 (req/s%s) | %s | %s (hello) | %s | — | info |\n",
		tpNote, rps(nf), rps(raw), num(nfRatio, 2, false))
}

func (r *report) roundsTable(b *strings.Builder) {
	b.WriteString("| round | server | hello req/s | CPU µs/req: server, plugin, wrk | 404 req/s | p50 ms | p99 ms | p99.9 ms | rate achieved | sender lag p99 ms | other load: throughput, latency | failed |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, rd := range r.rounds {
		for _, x := range []struct {
			name string
			run  measurement
		}{{"rawfiber", rd.raw}, {"edgefn", rd.edge}} {
			nf := "—"
			if x.run.notFound.RPS > 0 {
				nf = fmt.Sprintf("%.0f", x.run.notFound.RPS)
			}
			l := x.run.latency
			failed := int64(l.Failed) + x.run.hello.Non2xx + x.run.hello.SocketErrors
			c := x.run.cpu
			fmt.Fprintf(b, "| %d | %s | %.0f | %.1f, %.1f, %.1f | %s | %.3f | %.3f | %.3f | %.0f/s | %.3f | %s, %s | %d |\n",
				i+1, x.name, x.run.hello.RPS, c.server, c.plugin, c.wrk, nf, percentileMs(l, 50), percentileMs(l, 99), percentileMs(l, 99.9),
				float64(l.Sent)/l.Elapsed.Seconds(), harness.Millis(harness.Percentile(l.Lag, 99)),
				r.load(x.run.foreignHello), r.load(x.run.foreignLatency), failed)
		}
	}
}

// load formats a share of the machine used by other processes, marked when it is over -max-other.
func (r *report) load(foreign float64) string {
	if foreign > r.opts.maxOther {
		return fmt.Sprintf("**%.0f%%**", 100*foreign)
	}
	return fmt.Sprintf("%.0f%%", 100*foreign)
}

func (r *report) coldTable(b *strings.Builder) {
	c := r.cold
	deployAPI := summarizeMs(len(c.api), func(i int) time.Duration { return c.api[i].Deploy })
	deployCLI := summarizeMs(len(c.cli), func(i int) time.Duration { return c.cli[i].Deploy })
	up := summarizeMs(len(c.upload), func(i int) time.Duration { return c.upload[i] })
	hs := summarizeMs(len(c.handshake), func(i int) time.Duration { return c.handshake[i] })
	hash := summarizeMs(len(c.hash), func(i int) time.Duration { return c.hash[i] })
	fmt.Fprintf(b, "Other processes used %s of the machine during the cold starts.\n\n", r.load(c.foreign))
	b.WriteString("| part of a cold start | ms, median (fastest … slowest) |\n| --- | ---: |\n")
	fmt.Fprintf(b, "| admin API deploy call, until it returns | %s |\n", num(deployAPI, 1, false))
	fmt.Fprintf(b, "| `edgefn deploy` CLI, until it exits | %s |\n", num(deployCLI, 1, false))
	fmt.Fprintf(b, "| admin API upload alone: a deploy refused after staging the binary | %s |\n", num(up, 1, false))
	fmt.Fprintf(b, "| hello plugin alone: exec → go-plugin handshake line | %s |\n", num(hs, 1, false))
	fmt.Fprintf(b, "| one SHA-256 pass over the %.1f MB plugin binary | %s |\n", float64(c.binarySize)/1e6, num(hash, 1, false))
}

func coldSummary(s []harness.ColdSample) harness.Summary {
	return summarizeMs(len(s), func(i int) time.Duration { return s[i].FirstOK })
}

func summarizeMs(n int, at func(int) time.Duration) harness.Summary {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = harness.Millis(at(i))
	}
	return harness.Summarize(xs)
}

func verdict(ok bool) string {
	if ok {
		return "**pass**"
	}
	return "**FAIL**"
}

// rps formats a summary of requests per second with thousands separators.
func rps(s harness.Summary) string {
	return fmt.Sprintf("%s (%s … %s)", harness.Thousands(s.Median), harness.Thousands(s.Min), harness.Thousands(s.Max))
}

// num formats a summary with prec decimals, signed when sign is set.
func num(s harness.Summary, prec int, sign bool) string {
	f := "%." + fmt.Sprint(prec) + "f"
	if sign {
		f = "%+." + fmt.Sprint(prec) + "f"
	}
	return fmt.Sprintf(f+" ("+f+" … "+f+")", s.Median, s.Min, s.Max)
}
