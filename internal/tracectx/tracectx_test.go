package tracectx

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestParseFormatRoundTrip(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc, err := Parse(tp)
	if err != nil {
		t.Fatal(err)
	}
	if !sc.IsValid() || !sc.IsSampled() || !sc.IsRemote() {
		t.Fatalf("parsed %+v", sc)
	}
	if got := Format(sc); got != tp {
		t.Fatalf("Format = %q, want %q", got, tp)
	}
	ctx := WithRemote(context.Background(), tp)
	if got := Traceparent(ctx); got != tp {
		t.Fatalf("Traceparent(WithRemote(tp)) = %q", got)
	}
}

func TestParseRefusesWhatIsNotATraceparent(t *testing.T) {
	for _, tp := range []string{
		"", "garbage", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // short trace ID
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace ID
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero span ID
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-xx",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		"00-4BF92F3577B34DA6A3CE929D0E0E473Z-00f067aa0ba902b7-01",
	} {
		if _, err := Parse(tp); err == nil {
			t.Errorf("Parse(%q) accepted it", tp)
		}
		// A broken header starts a new trace; it never fails the call.
		if ctx := WithRemote(context.Background(), tp); trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("WithRemote(%q) made a span context", tp)
		}
	}
	if Traceparent(context.Background()) != "" {
		t.Error("a context with no span has a traceparent")
	}
}
