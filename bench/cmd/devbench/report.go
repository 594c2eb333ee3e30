package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// report is everything one devbench run measured.
type report struct {
	opts     options
	run      *harness.Run
	baseline baselineResult
	// first is dev's first deploy, built with the cache the baseline filled.
	first time.Duration
	edits []editResult
}

// spread is the p50, p90 and maximum of some durations.
type spread struct{ p50, p90, max time.Duration }

func spreadOf(ds []time.Duration) spread {
	s := slices.Clone(ds)
	slices.Sort(s)
	return spread{p50: harness.Percentile(s, 50), p90: harness.Percentile(s, 90), max: s[len(s)-1]}
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString(r.run.Preamble(len(r.edits), "edit"))

	of := func(f func(editResult) time.Duration) []time.Duration {
		out := make([]time.Duration, len(r.edits))
		for i, e := range r.edits {
			out[i] = f(e)
		}
		return out
	}
	live := spreadOf(of(func(e editResult) time.Duration { return e.live }))
	build := spreadOf(of(func(e editResult) time.Duration { return e.build }))
	deploy := spreadOf(of(func(e editResult) time.Duration { return e.deploy }))
	rest := spreadOf(of(func(e editResult) time.Duration { return e.live - e.build - e.deploy }))
	base := spreadOf(r.baseline.builds)

	b.WriteString("| figure | p50 | p90 | max | baseline p50 | ratio (p50) | goal |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|\n")
	row := func(name string, s spread, baseline, goalCell string, ratio string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", name, sec(s.p50), sec(s.p90), sec(s.max), baseline, ratio, goalCell)
	}
	ratio := fmt.Sprintf("%.2f×", float64(live.p50)/float64(base.p50))
	row("edit-to-live: write of main.go → first response with the change", live, sec(base.p50)+" (`go build` alone)",
		fmt.Sprintf("p90 < %s: %s", sec(goal), harness.Verdict(live.p90 < goal)), ratio)
	row("… of which `go build` in `edgefn dev`", build, sec(base.p50), "", fmt.Sprintf("%.2f×", float64(build.p50)/float64(base.p50)))
	row("… of which deploy: upload, plugin start, ready, traffic switched", deploy, "", "", "")
	row("… of which the rest: debounce (50 ms), file watch, poll every 2 ms", rest, "", "", "")
	row("baseline: `go build -trimpath -ldflags=-s -w` of one edit, alone", base, "", "", "")
	fmt.Fprintf(&b, "\nThe function is `edgefn new`'s scaffold (GET /%s), a %.1f MB plugin. `edgefn dev`'s first deploy "+
		"took %s (the baseline's builds had filled the Go build cache); each edit recompiles the one package and links.\n",
		fnName, float64(r.baseline.size)/1e6, sec(r.first))
	return b.String()
}

// sec formats d in seconds with two decimals.
func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
