package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads and parses the gateway's /metrics.
func scrape(t *testing.T, g *gateway) map[string]*dto.MetricFamily {
	t.Helper()
	return parseMetrics(t, scrapeText(t, g))
}

// scrapeText reads the gateway's /metrics.
func scrapeText(t *testing.T, g *gateway) []byte {
	t.Helper()
	r := do(t, "GET", g.URL+"/metrics", nil)
	if r.Status != 200 {
		t.Fatalf("GET /metrics = %d %s", r.Status, r.Body)
	}
	return r.Body
}

// parseMetrics parses Prometheus text.
func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return families
}

// series returns the value of the series of family name whose labels include want, and
// whether there is exactly one such series.
func series(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
	var found []float64
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			found = append(found, m.Counter.GetValue())
		case m.Gauge != nil:
			found = append(found, m.Gauge.GetValue())
		case m.Histogram != nil:
			found = append(found, float64(m.Histogram.GetSampleCount()))
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
}

func describe(families map[string]*dto.MetricFamily, name string) string {
	f := families[name]
	if f == nil {
		return name + ": absent"
	}
	var out []string
	for _, m := range f.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		out = append(out, fmt.Sprintf("{%s} %v", strings.Join(ls, ","), m))
	}
	sort.Strings(out)
	return name + ":\n  " + strings.Join(out, "\n  ")
}

// TestMetricsAfterTraffic scrapes /metrics after HTTP calls and stream deliveries with known
// outcomes: every series of docs/observability.md is there with its labels and the counts the traffic makes.
func TestMetricsAfterTraffic(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: t
handler: {{testfn}}
timeout: 2s
triggers:
  - http: {method: ANY, path: "/t/{op}"}
---
name: s
handler: {{testfn}}
timeout: 2s
env: {FIXED_FILE: "/nonexistent"}
triggers:
  - stream: {name: metrics-s, from: oldest, retries: 1, backoff: 10ms, filter: 'event.type != "skip"'}
---
name: w
handler: {{testfn}}
triggers:
  - websocket: {topic: "m.*"}
---
kind: topics
rules:
  - match: m.*
    subscribe: 'true'
    publish: 'true'
`))
	for range 3 {
		if r := do(t, "POST", g.URL+"/t/echo", []byte("x")); r.Status != 200 {
			t.Fatalf("echo = %d", r.Status)
		}
	}
	for range 2 {
		if r := do(t, "GET", g.URL+"/t/status?code=422", nil); r.Status != 422 {
			t.Fatalf("status 422 = %d", r.Status)
		}
	}
	if r := do(t, "GET", g.URL+"/t/status?code=503", nil); r.Status != 503 {
		t.Fatalf("status 503 = %d", r.Status)
	}
	ws := dialWS(t, wsURL(g, ""), nil)
	ws.mustOK(map[string]any{"op": "subscribe", "topic": "m.x"})
	ws.mustOK(map[string]any{"op": "publish", "topic": "m.x", "data": map[string]any{"n": 1}})
	ws.publication(5 * time.Second)
	for i, typ := range []string{"record", "record", "skip", "fail"} {
		mustCLI(t, g, "publish", "--stream", "metrics-s", "--type", typ, "--id", fmt.Sprintf("m%d", i), "--data", `{}`)
	}

	st := map[string]string{"function": "s", "trigger": "stream/metrics-s"}
	var families map[string]*dto.MetricFamily
	testkit.Eventually(t, 10*time.Second, "the stream's dead letter in /metrics", func() bool {
		families = scrape(t, g)
		v, ok := series(families, "edgefn_trigger_dead_letters_total", st)
		return ok && v == 1
	})
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edgefn_invocations_total", map[string]string{"function": "t", "trigger": "http", "outcome": "success"}, 3},
		{"edgefn_invocations_total", map[string]string{"function": "t", "trigger": "http", "outcome": "client_error"}, 2},
		{"edgefn_invocations_total", map[string]string{"function": "t", "trigger": "http", "outcome": "error"}, 1},
		{"edgefn_invocations_total", map[string]string{"function": "s", "trigger": "stream", "outcome": "success"}, 2},
		{"edgefn_invocations_total", map[string]string{"function": "s", "trigger": "stream", "outcome": "error"}, 2},
		{"edgefn_invocation_duration_seconds", map[string]string{"function": "t", "trigger": "http"}, 6},
		{"edgefn_invocation_duration_seconds", map[string]string{"function": "s", "trigger": "stream"}, 4},
		{"edgefn_inflight", map[string]string{"function": "t"}, 0},
		{"edgefn_plugin_restarts_total", map[string]string{"function": "t", "reason": "crash"}, 0},
		{"edgefn_plugin_restarts_total", map[string]string{"function": "t", "reason": "memory"}, 0},
		{"edgefn_cold_starts_total", map[string]string{"function": "t"}, 1},
		{"edgefn_cold_start_duration_seconds", map[string]string{"function": "s"}, 1},
		{"edgefn_trigger_retries_total", st, 1},
		{"edgefn_trigger_dead_letters_total", st, 1},
		{"edgefn_trigger_skipped_total", st, 1},
		{"edgefn_trigger_lag", st, 0},
		{"edgefn_invocations_total", map[string]string{"function": "w", "trigger": "websocket", "outcome": "success"}, 1},
		{"edgefn_ws_connections", nil, 1},
		{"edgefn_ws_publications_total", nil, 1},
		{"edgefn_ws_slow_disconnects_total", nil, 0},
	}
	for _, c := range checks {
		if v, ok := series(families, c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (found: %v), want %v\n%s", c.name, c.labels, v, ok, c.want, describe(families, c.name))
		}
	}

	// The Grafana dashboard queries only series the gateway exports.
	raw, err := os.ReadFile(filepath.Join(bins.repoDir, "examples", "grafana", "edgefn-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	names := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range metricName.FindAllString(tg.Expr, -1) {
				names++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if families[name] == nil && (families[base] == nil || families[base].GetType() != dto.MetricType_HISTOGRAM) {
					t.Errorf("dashboard panel %q queries %s, which /metrics does not export", p.Title, name)
				}
			}
		}
	}
	if names < 10 {
		t.Errorf("the dashboard names %d series; its panels were not read", names)
	}
}

var metricName = regexp.MustCompile(`edgefn_[a-z_]+`)
