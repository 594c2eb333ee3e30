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

// report is everything one edgebench run measured.
type report struct {
	opts options
	run  *harness.Run
	// wrkVersion is wrk's version line.
	wrkVersion string
	rounds     []round
	cold       coldResult
}

// undisturbed returns the rounds in which other processes used at most -max-other of the
// machine during both runs of a kind (foreign tells how much they used), and a note for the
// table when that is not every round. With no such round it returns them all, and says so.
func (r *report) undisturbed(foreign func(measurement) float64) ([]round, string) {
	return harness.Undisturbed(r.rounds, func(rd round) bool {
		return foreign(rd.raw) <= r.run.MaxOther && foreign(rd.edge) <= r.run.MaxOther
	}, " — ")
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
	b.WriteString(r.run.Preamble(len(r.rounds), "round", r.wrkVersion))
	if !r.valid() {
		b.WriteString("**Some requests failed: these numbers are not valid (see the rounds).**\n\n")
	}
	r.summaryTable(&b)
	fmt.Fprintf(&b, "\nCells are the median over the rounds, with the lowest and highest round in parentheses. "+
		"Ratios and differences are taken per round, edgefn against the baseline run just before it, then their median. "+
		"%s; a round still disturbed (in bold below) is left out of that metric's summary. "+
		"Cold starts are the median of %d deploys (fastest … slowest).\n\n", r.run.Retried(), len(r.cold.api))
	r.roundsTable(&b)
	b.WriteString("\n")
	r.coldTable(&b)
	return b.String()
}

func (r *report) summaryTable(b *strings.Builder) {
	o := r.opts
	b.WriteString("| metric | edgefn | baseline (raw Fiber) | ratio or difference | goal | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")

	tps, tpNote := r.undisturbed(func(m measurement) float64 { return m.foreignHello })
	edge := harness.PerRound(tps, func(rd round) float64 { return rd.edge.hello.RPS })
	raw := harness.PerRound(tps, func(rd round) float64 { return rd.raw.hello.RPS })
	ratio := harness.PerRound(tps, func(rd round) float64 { return rd.edge.hello.RPS / rd.raw.hello.RPS })
	fmt.Fprintf(b, "| throughput, GET /hello/x, `wrk -t%d -c%d -d%s` (req/s%s) | %s | %s | %s | ≥ %.1f × baseline | %s |\n",
		o.threads, o.conns, o.duration, tpNote, edge.Thousands(), raw.Thousands(), ratio.Format(2, false), goalRatio, harness.Verdict(ratio.Median >= goalRatio))

	lats, latNote := r.undisturbed(func(m measurement) float64 { return m.foreignLatency })
	for _, p := range []float64{50, 99, 99.9} {
		e := harness.PerRound(lats, func(rd round) float64 { return percentileMs(rd.edge.latency, p) })
		a := harness.PerRound(lats, func(rd round) float64 { return percentileMs(rd.raw.latency, p) })
		d := harness.PerRound(lats, func(rd round) float64 { return percentileMs(rd.edge.latency, p) - percentileMs(rd.raw.latency, p) })
		goal, result := "—", "info"
		if p == 99 {
			goal, result = fmt.Sprintf("< %.0f ms added", goalP99), harness.Verdict(d.Median < goalP99)
		}
		fmt.Fprintf(b, "| latency p%g at %d req/s for %s, open loop (ms%s) | %s | %s | %s | %s | %s |\n",
			p, o.rate, o.latencyDuration, latNote, e.Format(2, false), a.Format(2, false), d.Format(2, true), goal, result)
	}

	api := coldSummary(r.cold.api)
	cli := coldSummary(r.cold.cli)
	bare := coldSummary(r.cold.cliGoBuild)
	mb := func(n int64) float64 { return float64(n) / 1e6 }
	fmt.Fprintf(b, "| cold start, admin API deploy → first 200, plugin as edgefn builds it, %.1f MB (ms) | %s | — | — | < %.0f ms | %s |\n",
		mb(r.cold.binarySize), api.Format(1, false), goalColdRun, harness.Verdict(api.Median < goalColdRun))
	fmt.Fprintf(b, "| cold start, `edgefn deploy` CLI → first 200, plugin as edgefn builds it, %.1f MB (ms) | %s | — | — | < %.0f ms | %s |\n",
		mb(r.cold.binarySize), cli.Format(1, false), goalColdRun, harness.Verdict(cli.Median < goalColdRun))
	fmt.Fprintf(b, "| cold start, `edgefn deploy` CLI → first 200, plugin from a bare `go build`, %.1f MB (ms) | %s | — | — | — | info |\n",
		mb(r.cold.goBuildSize), bare.Format(1, false))

	ec := harness.PerRound(tps, func(rd round) float64 { return rd.edge.cpu.total() })
	rc := harness.PerRound(tps, func(rd round) float64 { return rd.raw.cpu.total() })
	cr := harness.PerRound(tps, func(rd round) float64 { return rd.raw.cpu.total() / rd.edge.cpu.total() })
	fmt.Fprintf(b, "| CPU per request in the throughput run, server + plugin + wrk (µs%s) | %s | %s | %s (baseline ÷ edgefn) | — | info |\n",
		tpNote, ec.Format(1, false), rc.Format(1, false), cr.Format(2, false))

	nf := harness.PerRound(tps, func(rd round) float64 { return rd.edge.notFound.RPS })
	nfRatio := harness.PerRound(tps, func(rd round) float64 { return rd.edge.notFound.RPS / rd.raw.hello.RPS })
	fmt.Fprintf(b, "| gateway alone: GET of a path with no route, 404 (req/s%s) | %s | %s (hello) | %s | — | info |\n",
		tpNote, nf.Thousands(), raw.Thousands(), nfRatio.Format(2, false))
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
func (r *report) load(foreign float64) string { return r.run.OtherLoad(foreign) }

func (r *report) coldTable(b *strings.Builder) {
	c := r.cold
	deployAPI := summarizeMs(len(c.api), func(i int) time.Duration { return c.api[i].Deploy })
	deployCLI := summarizeMs(len(c.cli), func(i int) time.Duration { return c.cli[i].Deploy })
	up := summarizeMs(len(c.upload), func(i int) time.Duration { return c.upload[i] })
	hs := summarizeMs(len(c.handshake), func(i int) time.Duration { return c.handshake[i] })
	hash := summarizeMs(len(c.hash), func(i int) time.Duration { return c.hash[i] })
	fmt.Fprintf(b, "Other processes used %s of the machine during the cold starts.\n\n", r.load(c.foreign))
	b.WriteString("| part of a cold start | ms, median (fastest … slowest) |\n| --- | ---: |\n")
	fmt.Fprintf(b, "| admin API deploy call, until it returns | %s |\n", deployAPI.Format(1, false))
	fmt.Fprintf(b, "| `edgefn deploy` CLI, until it exits | %s |\n", deployCLI.Format(1, false))
	fmt.Fprintf(b, "| admin API upload alone: a deploy refused after staging the binary | %s |\n", up.Format(1, false))
	fmt.Fprintf(b, "| hello plugin alone: exec → go-plugin handshake line | %s |\n", hs.Format(1, false))
	fmt.Fprintf(b, "| one SHA-256 pass over the %.1f MB plugin binary | %s |\n", float64(c.binarySize)/1e6, hash.Format(1, false))
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
