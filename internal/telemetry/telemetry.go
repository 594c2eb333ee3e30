// Package telemetry is edgefn's tracing plumbing: the OpenTelemetry SDK with an OTLP exporter
// configured by the standard OTEL_* environment variables, the W3C trace-context propagator,
// and the small helpers the gateway, the runtime and the triggers share to start spans and to
// carry a traceparent across processes (plugins, queues, streams, WebSocket publications).
//
// Tracing is off unless an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and OTEL_TRACES_EXPORTER is not "none"; spans then cost
// next to nothing. Every component takes its tracer from the global provider at use, so a
// test may install its own (sdktrace with tracetest's in-memory exporter) before starting.
package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of edgefn's spans.
const Name = "github.com/edgefn/edgefn"

// Tracer returns edgefn's tracer from the global provider.
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// active is set once a tracer provider that records is installed (Setup, Install). Until
// then Start costs nothing: no span, no context, no allocation per message or request.
var active atomic.Bool

// Install makes tp the global tracer provider and turns tracing on: for a test with an
// in-memory exporter, or a program embedding edgefn with its own provider.
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	active.Store(true)
}

// Start starts a span of the given kind with edgefn's tracer while tracing is on; its name
// is the parts, joined. Off, it returns ctx as it is and the span already on it (a
// non-recording one that still carries a caller's trace context onward), and the name is
// never built: hot paths pay no allocation for spans nobody records.
func Start(ctx context.Context, kind trace.SpanKind, name ...string) (context.Context, trace.Span) {
	if !active.Load() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return Tracer().Start(ctx, strings.Join(name, ""), trace.WithSpanKind(kind))
}

// Recording reports whether tracing is on (Setup or Install put a recording provider in place):
// while it is off no span records, and hot paths can skip looking for one.
func Recording() bool { return active.Load() }

// Enabled reports whether the environment asks for traces to be exported.
func Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if exp := os.Getenv("OTEL_TRACES_EXPORTER"); exp != "" && !strings.EqualFold(exp, "otlp") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the W3C propagator and, when Enabled, a tracer provider exporting over OTLP
// (OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf", the default, or "grpc"; endpoint, headers,
// timeout, sampler and batching from their OTEL_* variables; service.name from
// OTEL_SERVICE_NAME, default "edgefn"). The returned shutdown flushes what is buffered.
func Setup(ctx context.Context, version string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	var exp sdktrace.SpanExporter
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: edgefn exports traces over http/protobuf or grpc", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.version", version)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	if os.Getenv("OTEL_SERVICE_NAME") == "" && !strings.Contains(os.Getenv("OTEL_RESOURCE_ATTRIBUTES"), "service.name=") {
		if res, err = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", "edgefn"))); err != nil {
			return nil, fmt.Errorf("trace resource: %w", err)
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	Install(tp)
	return tp.Shutdown, nil
}

// Fail marks span failed with err (nothing when err is nil).
func Fail(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}
