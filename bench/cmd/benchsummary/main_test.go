package main

import (
	"strings"
	"testing"
)

const sample = `# bench

<!-- summary:start -->
<!-- summary:end -->

<!-- triggers:start -->
Measured 2026-12-03 on a machine.

Command: ` + "`go run ./bench/cmd/triggerbench`" + `.

| metric | baseline, inside triggerbench | edgefn | timed until | goal |
| --- | --- | --- | --- | --- |
| how | it | is | measured | ≥ 0.7 |

| metric | edgefn | baseline | ratio (edgefn ÷ baseline) | goal | result |
| --- | ---: | ---: | ---: | --- | --- |
| stream (msgs/s) | 100 | 200 | 0.50 | ≥ 0.7 × baseline | **FAIL** |
<!-- triggers:end -->

<!-- dev-results:start -->
Measured 2026-12-04.

| figure | p50 | p90 | max | baseline p50 | ratio (p50) | goal |
|---|---:|---:|---:|---:|---:|---|
| edit-to-live | 0.69 s | 0.77 s | 0.88 s | 0.52 s | 1.32× | p90 < 2.00 s: **pass** |
| … of which build | 0.59 s | 0.67 s | 0.77 s | 0.52 s | 1.14× |  |
<!-- dev-results:end -->
`

func TestSummaryTakesEachResultsTable(t *testing.T) {
	got, err := summarize(sample)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| #3 | stream (msgs/s) | 100 | 200 | 0.50 | ≥ 0.7 × baseline | **FAIL** |",
		"| #7 | edit-to-live | 0.69 s | 0.52 s | 1.32× | p90 < 2.00 s | **pass** |",
		"| #7 | … of which build | 0.59 s | 0.52 s | 1.14× | — | info |",
		"- #3 [queue and stream triggers](#trigger-throughput): Measured 2026-12-03 on a machine Command: `go run ./bench/cmd/triggerbench`.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "| how |") {
		t.Errorf("the how-it-is-measured table was taken for results:\n%s", got)
	}
}

func TestSummaryNeedsASection(t *testing.T) {
	if _, err := summarize("# nothing here\n"); err == nil {
		t.Fatal("a README without benchmark sections gave a summary")
	}
}
