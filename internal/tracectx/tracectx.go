// Package tracectx carries W3C trace context (traceparent) between edgefn's processes: it
// formats and parses traceparent values and puts them on a context as the remote parent of
// new spans. It depends on OpenTelemetry's trace API only, so function plugins, which use it
// through the SDK, do not link the SDK or its exporters.
package tracectx

import (
	"context"
	"errors"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Traceparent formats the span context of ctx as a W3C traceparent, or "" when ctx has none.
func Traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return Format(sc)
}

// Format formats sc as a W3C traceparent.
func Format(sc trace.SpanContext) string {
	tid, sid := sc.TraceID(), sc.SpanID()
	return "00-" + tid.String() + "-" + sid.String() + "-" + sc.TraceFlags().String()
}

// Parse reads a W3C traceparent; it fails on anything else.
func Parse(tp string) (trace.SpanContext, error) {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return trace.SpanContext{}, errors.New("tracectx: not a traceparent")
	}
	tid, err := trace.TraceIDFromHex(parts[1])
	if err != nil {
		return trace.SpanContext{}, err
	}
	sid, err := trace.SpanIDFromHex(parts[2])
	if err != nil {
		return trace.SpanContext{}, err
	}
	var flags trace.TraceFlags
	switch parts[3] {
	case "00":
	case "01":
		flags = trace.FlagsSampled
	default:
		return trace.SpanContext{}, errors.New("tracectx: unknown trace flags")
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true}), nil
}

// WithRemote returns ctx with the span context of the traceparent tp as its remote parent;
// ctx unchanged when tp is empty or malformed (a broken header starts a new trace, it does
// not fail the call).
func WithRemote(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	sc, err := Parse(tp)
	if err != nil {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
