package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/internal/tracectx"
)

func TestOffWithoutAnEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	if Enabled() {
		t.Fatal("tracing on with no endpoint")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	if Enabled() {
		t.Fatal("tracing on with OTEL_TRACES_EXPORTER=none")
	}
	// Off, Start passes the caller's trace context on and starts nothing.
	ctx := tracectx.WithRemote(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	got, span := Start(ctx, trace.SpanKindServer, "GET ", "/x")
	if got != ctx || span.IsRecording() || tracectx.Traceparent(got) != tracectx.Traceparent(ctx) {
		t.Fatalf("Start while tracing is off made a span or lost the caller's trace (%v)", span.SpanContext())
	}
	if Recording() {
		t.Fatal("Recording says on before Setup installed a provider")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if _, err := Setup(context.Background(), "test"); err == nil {
		t.Fatal("Setup accepted a protocol it cannot export with")
	}
}

// TestSetupExportsOverOTLP configures the exporter from the environment, as users do, and
// checks that a span reaches an OTLP/HTTP receiver with edgefn's service name.
func TestSetupExportsOverOTLP(t *testing.T) {
	var mu sync.Mutex
	var got []*coltrace.ExportTraceServiceRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &coltrace.ExportTraceServiceRequest{}
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
			t.Errorf("unexpected export %s %s", r.Method, r.URL.Path)
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "")
	prev := otel.GetTracerProvider()
	defer func() { otel.SetTracerProvider(prev); active.Store(false) }()

	shutdown, err := Setup(context.Background(), "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	_, span := Start(context.Background(), trace.SpanKindInternal, "test ", "span")
	if !Recording() || !span.IsRecording() {
		t.Fatal("the span does not record once Setup installed the exporter")
	}
	span.End()
	if err := shutdown(context.Background()); err != nil { // flushes
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var names, services []string
	for _, req := range got {
		for _, rs := range req.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					services = append(services, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
	}
	if len(names) != 1 || names[0] != "test span" || len(services) != 1 || services[0] != "edgefn" {
		t.Fatalf("exported spans %q of services %q", names, services)
	}
}
