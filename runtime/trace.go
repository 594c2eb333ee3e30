package runtime

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime/event"
)

// Tracing: every invocation is a span ("invoke NAME") under the caller's span, and the
// plugin's run of the handler a child of it ("handle NAME"), timed by the plugin and
// recorded by the gateway, so functions need no exporter of their own. The plugin gets the
// invocation span as the traceparent of its ctx: spans a handler starts with OpenTelemetry
// are its children too.

// startInvoke starts the invocation span of f for ev under parent.
func (f *Function) startInvoke(parent context.Context, ev *event.Event) (context.Context, trace.Span) {
	ctx, span := telemetry.Start(parent, trace.SpanKindInternal, f.spanName)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("edgefn.function", f.name),
			attribute.String("edgefn.trigger", triggerOf(parent)),
			attribute.String("edgefn.event.id", ev.ID), attribute.Int("edgefn.attempt", ev.Attempt))
	}
	return ctx, span
}

// endInvoke ends an invocation span with its outcome.
func endInvoke(span trace.Span, err error) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("edgefn.outcome", outcomeOf(err)))
		telemetry.Fail(span, err)
	}
	span.End()
}

// recordHandler records the plugin's run of o's handler as a child of o's invocation span.
func recordHandler(ctx context.Context, function string, o *outcome) {
	if o.ran.started == 0 || o.span == nil || !o.span.IsRecording() {
		return
	}
	_, span := telemetry.Tracer().Start(trace.ContextWithSpan(ctx, o.span), "handle "+function,
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(time.Unix(0, o.ran.started)))
	span.End(trace.WithTimestamp(time.Unix(0, o.ran.finished)))
}
