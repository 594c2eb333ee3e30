package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/internal/testkit"
)

// TestOneTraceFollowsACallToItsNotification runs the gateway in-process with an in-memory span
// exporter and real plugins: an HTTP call (with the caller's traceparent) runs a function that
// emits to a stream; the stream triggers a second function, which notifies a WebSocket topic
// a real client subscribes to. Every span of that chain is in the caller's trace, each a
// child of the one before it.
func TestOneTraceFollowsACallToItsNotification(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin and runs the gateway")
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	telemetry.Install(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	dir := t.TempDir()
	bin := filepath.Join(dir, "testfn")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/edgefn/edgefn/internal/testfn").CombinedOutput(); err != nil {
		t.Fatalf("go build testfn: %v\n%s", err, out)
	}
	manifest := filepath.Join(dir, "fns.yaml")
	yaml := strings.ReplaceAll(`
name: front
handler: BIN
triggers:
  - http: {method: POST, path: "/t/{op}"}
---
name: relay
handler: BIN
triggers:
  - stream: {name: traced, from: oldest}
---
kind: topics
rules:
  - match: trace.*
    subscribe: 'true'
`, "BIN", bin)
	if err := os.WriteFile(manifest, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testkit.SyncBuffer
	done := make(chan int)
	go func() {
		done <- cli{ctx: ctx}.runTo(&stdout, &stderr, "serve", "--listen", addr, "--manifests", manifest,
			"--data-dir", filepath.Join(dir, "data"))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	testkit.Eventually(t, 20*time.Second, "the gateway to be ready", func() bool {
		r, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	if err := ws.WriteJSON(map[string]any{"id": 1, "op": "subscribe", "topic": "trace.t1"}); err != nil {
		t.Fatal(err)
	}
	var reply struct {
		ID int  `json:"id"`
		OK bool `json:"ok"`
	}
	if err := ws.ReadJSON(&reply); err != nil || !reply.OK {
		t.Fatalf("subscribe: %+v %v", reply, err)
	}

	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("POST", "http://"+addr+"/t/chain", bytes.NewReader([]byte(`{"stream":"traced","topic":"trace.t1"}`)))
	req.Header.Set("Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("POST /t/chain = %d", resp.StatusCode)
	}
	var pub struct {
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}
	if err := ws.ReadJSON(&pub); err != nil || pub.Topic != "trace.t1" {
		t.Fatalf("notification: %+v %v", pub, err)
	}

	// The chain, each span's parent the one before it (by name; all in the caller's trace).
	chain := []struct{ name, parent string }{
		{"POST /t/{op}", ""},
		{"invoke front", "POST /t/{op}"},
		{"handle front", "invoke front"},
		{"publish stream/traced", "POST /t/{op}"},
		{"process stream/traced", "publish stream/traced"},
		{"invoke relay", "process stream/traced"},
		{"handle relay", "invoke relay"},
		{"notify trace.t1", "process stream/traced"},
	}
	var byName map[string]sdktrace.ReadOnlySpan
	defer func() {
		if t.Failed() {
			for _, s := range exp.GetSpans().Snapshots() {
				t.Logf("span %q trace %s span %s parent %s", s.Name(), s.SpanContext().TraceID(), s.SpanContext().SpanID(), s.Parent().SpanID())
			}
		}
	}()
	testkit.Eventually(t, 20*time.Second, "every span of the chain", func() bool {
		byName = map[string]sdktrace.ReadOnlySpan{}
		for _, s := range exp.GetSpans().Snapshots() {
			if s.SpanContext().TraceID().String() == callerTrace {
				byName[s.Name()] = s
			}
		}
		for _, c := range chain {
			if byName[c.name] == nil {
				return false
			}
		}
		return true
	})
	for _, c := range chain {
		s := byName[c.name]
		want := callerSpan
		if c.parent != "" {
			want = byName[c.parent].SpanContext().SpanID().String()
		}
		if got := s.Parent().SpanID().String(); got != want {
			t.Errorf("span %q has parent %s, want %s (%s)", c.name, got, want, c.parent)
		}
	}
	if k := byName["POST /t/{op}"].SpanKind(); k != trace.SpanKindServer {
		t.Errorf("HTTP span kind %v", k)
	}
	if k := byName["process stream/traced"].SpanKind(); k != trace.SpanKindConsumer {
		t.Errorf("consumer span kind %v", k)
	}
	if k := byName["publish stream/traced"].SpanKind(); k != trace.SpanKindProducer {
		t.Errorf("producer span kind %v", k)
	}
	h, inv := byName["handle relay"], byName["invoke relay"]
	if h.StartTime().Before(inv.StartTime()) || h.EndTime().After(inv.EndTime()) {
		t.Errorf("the handler ran %v–%v, outside its invocation %v–%v", h.StartTime(), h.EndTime(), inv.StartTime(), inv.EndTime())
	}
}
