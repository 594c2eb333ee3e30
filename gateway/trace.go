package gateway

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime"
)

// The contexts calls start from, made once: they name the trigger kind for the metrics.
var (
	httpCalls  = runtime.WithTrigger(context.Background(), runtime.TriggerHTTP)
	adminCalls = runtime.WithTrigger(context.Background(), runtime.TriggerAdmin)
)

// startCall starts the server span of an HTTP call of a function: a child of the caller's
// traceparent header when it sends one. The context it returns names the trigger kind for the
// runtime's metrics, and is what the invocation, its effects and an async submission run
// under, so that one trace follows the call through everything it causes.
func startCall(base context.Context, c *fiber.Ctx, route string) (context.Context, trace.Span) {
	ctx := tracectx.WithRemote(base, c.Get("Traceparent"))
	ctx, span := telemetry.Start(ctx, trace.SpanKindServer, c.Method(), " ", route)
	if span.IsRecording() {
		// Copies: the request's memory is reused after the handler returns.
		span.SetAttributes(attribute.String("http.request.method", c.Method()),
			attribute.String("http.route", route),
			attribute.String("url.path", string(c.Request().URI().Path())))
	}
	return ctx, span
}

// endCall ends the span of an HTTP call with the status it was answered with.
func endCall(c *fiber.Ctx, span trace.Span) {
	if span.IsRecording() {
		status := c.Response().StatusCode()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}
