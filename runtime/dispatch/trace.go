package dispatch

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/triggers"
)

// Tracing: a delivery is a consumer span ("process queue/NAME") whose parent is the
// producer's traceparent carried by the message (AMQP header, stream field), so a trace
// follows an event from the function that emitted it to the functions it triggers. The
// invocation span is its child, and so are the spans of the effects: one producer span per
// emitted message ("publish stream/NAME", whose context the message carries on) and per
// WebSocket notification ("notify TOPIC").

// startDelivery starts the consumer span of d under the producer's trace context.
func (c *Consumer) startDelivery(d *triggers.Delivery) (context.Context, trace.Span) {
	ctx := tracectx.WithRemote(c.base, d.Traceparent)
	ctx, span := telemetry.Start(ctx, trace.SpanKindConsumer, c.spanName)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.destination.name", c.cfg.EventSource),
			attribute.String("messaging.message.id", d.ID), attribute.Int("edgefn.attempt", d.Attempt),
			attribute.String("edgefn.function", c.cfg.Function))
	}
	return ctx, span
}

// startPublish starts a producer span under ctx's, named by the parts of name.
func startPublish(ctx context.Context, messageID string, name ...string) (context.Context, trace.Span) {
	ctx, span := telemetry.Start(ctx, trace.SpanKindProducer, name...)
	if span.IsRecording() && messageID != "" {
		span.SetAttributes(attribute.String("messaging.message.id", messageID))
	}
	return ctx, span
}

// endSpan ends span, marking it failed with err.
func endSpan(span trace.Span, err error) {
	telemetry.Fail(span, err)
	span.End()
}
