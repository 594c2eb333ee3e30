package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	dto "github.com/prometheus/client_model/go"
)

// findPromtool returns the path of Prometheus' promtool, skipping loudly when it is not
// installed (and failing under CI, which installs it).
func findPromtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	msg := "PROMTOOL NOT FOUND on PATH (apt-get install --no-install-recommends prometheus; .ci/run installs it)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("!!! SKIPPED: " + msg)
	return ""
}

// promFamilies are the metric families of docs/observability.md with their types: a gateway
// that has served every kind of traffic exports each of them.
var promFamilies = map[string]dto.MetricType{
	"edgefn_invocations_total":           dto.MetricType_COUNTER,
	"edgefn_invocation_duration_seconds": dto.MetricType_HISTOGRAM,
	"edgefn_inflight":                    dto.MetricType_GAUGE,
	"edgefn_plugin_restarts_total":       dto.MetricType_COUNTER,
	"edgefn_cold_starts_total":           dto.MetricType_COUNTER,
	"edgefn_cold_start_duration_seconds": dto.MetricType_HISTOGRAM,
	"edgefn_trigger_lag":                 dto.MetricType_GAUGE,
	"edgefn_trigger_retries_total":       dto.MetricType_COUNTER,
	"edgefn_trigger_dead_letters_total":  dto.MetricType_COUNTER,
	"edgefn_trigger_skipped_total":       dto.MetricType_COUNTER,
	"edgefn_trigger_replies_total":       dto.MetricType_COUNTER,
	"edgefn_ws_connections":              dto.MetricType_GAUGE,
	"edgefn_ws_publications_total":       dto.MetricType_COUNTER,
	"edgefn_ws_slow_disconnects_total":   dto.MetricType_COUNTER,
	"edgefn_ws_function_calls_total":     dto.MetricType_COUNTER,
	"edgefn_ws_presence_members":         dto.MetricType_GAUGE,
	"edgefn_async_requests_total":        dto.MetricType_COUNTER,
	"edgefn_async_pending":               dto.MetricType_GAUGE,
	"edgefn_schedule_runs_total":         dto.MetricType_COUNTER,
	"edgefn_schedule_lag_seconds":        dto.MetricType_GAUGE,
	"edgefn_instances":                   dto.MetricType_GAUGE,
	"edgefn_scale_events_total":          dto.MetricType_COUNTER,
}

// TestPromtoolChecksMetrics serves HTTP, queue (RabbitMQ), stream (Redis), WebSocket, async and schedule
// traffic, failures included, and checks that `promtool check metrics` finds nothing to say
// about the /metrics that results: Prometheus takes it as it is.
func TestPromtoolChecksMetrics(t *testing.T) {
	promtool := findPromtool(t)
	queue, replies, stream := uniqueName("prom-q"), uniqueName("prom-replies"), uniqueName("prom-s")
	g := startGateway(t, "", "--redis", redisURL(t), "--amqp", amqpURL(t), "--manifests", writeManifest(t, `
kind: topics
rules:
  - match: m.*
    subscribe: 'true'
    publish: 'true'
---
name: t
handler: {{testfn}}
timeout: 5s
triggers:
  - http: {method: ANY, path: "/t/{op}"}
  - websocket: {topic: "m.*"}
---
name: q
handler: {{testfn}}
timeout: 5s
env: {FIXED_FILE: "/nonexistent"}
triggers:
  - queue: {name: `+queue+`, retries: 1, backoff: 10ms}
---
name: r
handler: {{testfn}}
env: {DEFAULT_OP: echo}
triggers:
  - queue: {name: `+replies+`}
---
name: s
handler: {{testfn}}
timeout: 5s
env: {FIXED_FILE: "/nonexistent"}
triggers:
  - stream: {name: `+stream+`, from: oldest, retries: 1, backoff: 10ms, filter: 'event.type != "skip"'}
---
name: k
handler: {{testfn}}
triggers:
  - schedule: {cron: '@every 1s'}
---
name: z
handler: {{testfn}}
scale: {min: 0, max: 2, idle: 1s, stabilization: 0s}
`))

	// HTTP: a success, a status the function chose, a function error.
	for path, want := range map[string]int{"/t/echo": 200, "/t/status?code=422": 422, "/t/status?code=503": 503} {
		if r := do(t, "POST", g.URL+path, []byte("x")); r.Status != want {
			t.Fatalf("POST %s = %d %s, want %d", path, r.Status, r.Body, want)
		}
	}

	// Async: one call the function answers, one it fails.
	for path, want := range map[string]int{"/t/echo": 200, "/t/status?code=422": 422} {
		a := submit(t, g, path, []byte("x"))
		if r := do(t, "GET", g.URL+"/requests/"+a.ID+"?wait=20s", nil); r.Status != want {
			t.Fatalf("async %s: reply %d %s, want %d", path, r.Status, r.Body, want)
		}
	}

	// WebSocket: a subscriber receives a function's notification, and a client publish
	// runs the function.
	ws := dialWS(t, wsURL(g, ""), nil)
	ws.mustOK(map[string]any{"op": "subscribe", "topic": "m.x"})
	notify(t, g, "m.x", `{"n":1}`)
	ws.publication(10 * time.Second)
	ws.mustOK(map[string]any{"op": "publish", "topic": "m.x", "data": map[string]any{"n": 2}})
	ws.publication(10 * time.Second)

	// Queue: a success, a reply to reply-to, a delivery retried and dead-lettered.
	mustCLI(t, g, "publish", "--queue", queue, "--type", "echo", "--id", "q-ok", "--data", `{}`)
	mustCLI(t, g, "publish", "--queue", queue, "--type", "pong", "--id", "q-rpc", "--reply-to", replies, "--correlation-id", "c-1", "--data", `"ping"`)
	mustCLI(t, g, "publish", "--queue", queue, "--type", "fail", "--id", "q-poison", "--data", `{}`)
	// Stream: a success, a delivery the filter skips, one retried and dead-lettered.
	for i, typ := range []string{"echo", "skip", "fail"} {
		mustCLI(t, g, "publish", "--stream", stream, "--type", typ, "--id", fmt.Sprintf("s%d", i), "--data", `{}`)
	}

	qt := map[string]string{"function": "q", "trigger": "queue/" + queue}
	st := map[string]string{"function": "s", "trigger": "stream/" + stream}
	waits := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edgefn_trigger_dead_letters_total", qt, 1},
		{"edgefn_trigger_retries_total", qt, 1},
		{"edgefn_trigger_dead_letters_total", st, 1},
		{"edgefn_trigger_retries_total", st, 1},
		{"edgefn_trigger_skipped_total", st, 1},
		{"edgefn_trigger_replies_total", map[string]string{"function": "q", "trigger": "queue/" + queue, "outcome": "sent"}, 1},
		{"edgefn_invocations_total", map[string]string{"function": "r", "trigger": "queue", "outcome": "success"}, 1},
		{"edgefn_invocations_total", map[string]string{"function": "t", "trigger": "websocket", "outcome": "success"}, 1},
		{"edgefn_ws_function_calls_total", map[string]string{"function": "t", "event": "publish", "outcome": "success"}, 1},
		{"edgefn_async_requests_total", map[string]string{"outcome": "completed"}, 1},
		{"edgefn_async_requests_total", map[string]string{"outcome": "failed"}, 1},
		// Scaling: z, idle since its deploy, went to zero.
		{"edgefn_scale_events_total", map[string]string{"function": "z", "direction": "down"}, 1},
	}
	// Schedule: runs that succeed, a count that grows each second.
	testkit.Eventually(t, 20*time.Second, "the schedule's runs in /metrics", func() bool {
		n, ok := series(scrape(t, g), "edgefn_schedule_runs_total", map[string]string{"function": "k", "outcome": "success"})
		return ok && n >= 1
	})
	var body []byte
	var families map[string]*dto.MetricFamily
	missing := ""
	defer func() {
		if t.Failed() && missing != "" {
			t.Logf("last scrape, waiting for %s", missing)
		}
	}()
	testkit.Eventually(t, 20*time.Second, "the traffic's counts in /metrics", func() bool {
		body = scrapeText(t, g)
		families = parseMetrics(t, body)
		for _, w := range waits {
			if v, ok := series(families, w.name, w.labels); !ok || v != w.want {
				missing = fmt.Sprintf("%s%v = %v\n%s", w.name, w.labels, w.want, describe(families, w.name))
				return false
			}
		}
		missing = ""
		return true
	})
	// promtool reads the scrape that showed all the traffic.
	for name, typ := range promFamilies {
		f := families[name]
		if f == nil || f.GetType() != typ || len(f.GetMetric()) == 0 {
			t.Errorf("%s: want a %v family with series\n%s", name, typ, describe(families, name))
		}
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n/metrics:\n%s", err, out, edgefnLines(body))
	}
}

// edgefnLines is the edgefn_ lines of a /metrics body, for a failure message.
func edgefnLines(body []byte) string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Contains(l, "edgefn_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
