// Command benchsummary gathers the figures the other benchmark commands wrote into
// bench/README.md (edgebench, triggerbench, wsbench, asyncbench, devbench, each in its own
// marked section) into one table at the top: each figure with its baseline, the ratio and
// the goal, when and on what machine it was measured, and the command that measured it.
// `make bench` runs it last.
//
//	go run ./bench/cmd/benchsummary -write bench/README.md
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// section is one benchmark command's part of the README.
type section struct {
	marker, issue, title, anchor string
}

var sections = []section{
	{"results", "#2", "HTTP functions", "#results"},
	{"triggers", "#3", "queue and stream triggers", "#trigger-throughput"},
	{"ws-results", "#4", "WebSocket", "#websocket-fan-out"},
	{"async-results", "#5", "async request-reply", ""},
	{"dev-results", "#7", "edit-to-live", ""},
	{"rpc-results", "#19", "RabbitMQ RPC", "#rabbitmq-rpc"},
	{"schedule-results", "#22", "schedule triggers", "#schedule-triggers"},
}

func main() {
	path := flag.String("write", "bench/README.md", "README to read the sections of and to write the summary into")
	flag.Parse()
	if err := run(*path, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	}
}

func run(path string, out io.Writer) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text, err := summarize(string(raw))
	if err != nil {
		return err
	}
	fmt.Fprint(out, text)
	return harness.RewriteSection(path, "<!-- summary:start -->", "<!-- summary:end -->", text)
}

// summarize builds the summary section from the README's sections.
func summarize(readme string) (string, error) {
	var b strings.Builder
	b.WriteString("Every figure the benchmarks measure, gathered from their sections below by `go run ./bench/cmd/benchsummary -write bench/README.md` (the last step of `make bench`). Cells are medians over rounds; each section gives the ranges, the rounds and how it measured.\n\n")
	b.WriteString("| issue | figure | edgefn | baseline | ratio or difference | goal | result |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | --- | --- |\n")
	var runs []string
	found := 0
	for _, s := range sections {
		body, ok := between(readme, "<!-- "+s.marker+":start -->", "<!-- "+s.marker+":end -->")
		if !ok {
			continue
		}
		found++
		rows, err := tableRows(body)
		if err != nil {
			return "", fmt.Errorf("section %s: %w", s.marker, err)
		}
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", s.issue, r.figure, r.value, r.baseline, r.ratio, r.goal, r.result)
		}
		measured, command := lineWith(body, "Measured "), lineWith(body, "Command: ")
		title := s.title
		if s.anchor != "" {
			title = "[" + title + "](" + s.anchor + ")"
		}
		runs = append(runs, fmt.Sprintf("- %s %s: %s %s", s.issue, title, strings.TrimSuffix(measured, "."), command))
	}
	if found == 0 {
		return "", errors.New("no benchmark section found")
	}
	b.WriteString("\nWhere and how each section was measured:\n\n")
	b.WriteString(strings.Join(runs, "\n"))
	b.WriteString("\n")
	return b.String(), nil
}

// row is one figure of a section's main table.
type row struct {
	figure, value, baseline, ratio, goal, result string
}

// tableRows reads the first table of body whose header names a goal or a baseline: the
// section's results. Columns are found by their header's words.
func tableRows(body string) ([]row, error) {
	lines := strings.Split(body, "\n")
	for i := 0; i+1 < len(lines); i++ {
		header := cells(lines[i])
		if len(header) < 3 || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|") || !strings.Contains(lines[i+1], "---") {
			continue
		}
		col := map[string]int{}
		for k, h := range header {
			h = strings.ToLower(h)
			switch {
			case k == 0:
				col["figure"] = k
			case strings.Contains(h, "baseline") && !strings.Contains(h, "ratio"):
				if _, ok := col["baseline"]; !ok {
					col["baseline"] = k
				}
			case strings.Contains(h, "ratio") || strings.Contains(h, "difference"):
				col["ratio"] = k
			case strings.Contains(h, "goal"):
				col["goal"] = k
			case strings.Contains(h, "result"):
				col["result"] = k
			case h == "edgefn" || h == "async" || h == "p50":
				col["value"] = k
			}
		}
		if _, ok := col["value"]; !ok {
			continue
		}
		if _, ok := col["baseline"]; !ok {
			continue
		}
		if _, ok := col["ratio"]; !ok {
			continue // a table of how things are measured, not of results
		}
		var rows []row
		for _, l := range lines[i+2:] {
			c := cells(l)
			if len(c) == 0 {
				break
			}
			get := func(name string) string {
				k, ok := col[name]
				if !ok || k >= len(c) || c[k] == "" {
					return "—"
				}
				return c[k]
			}
			r := row{figure: get("figure"), value: get("value"), baseline: get("baseline"), ratio: get("ratio"), goal: get("goal"), result: get("result")}
			if r.result == "—" {
				// devbench writes "goal: **pass**" in one cell.
				if g, res, ok := strings.Cut(r.goal, ": "); ok {
					r.goal, r.result = g, res
				} else if r.goal == "—" {
					r.result = "info"
				}
			}
			rows = append(rows, r)
		}
		return rows, nil
	}
	return nil, errors.New("no results table (a header with the edgefn figure and a baseline)")
}

// cells splits a markdown table line into its trimmed cells; nil for a line that is not one.
func cells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
		return nil
	}
	parts := strings.Split(line[1:len(line)-1], "|")
	for k := range parts {
		parts[k] = strings.TrimSpace(parts[k])
	}
	return parts
}

func between(s, start, end string) (string, bool) {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return "", false
	}
	body, _, ok := strings.Cut(rest, end)
	return body, ok
}

func lineWith(body, prefix string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
