package runtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/edgefn/edgefn/runtime/fn"
)

// Trigger kinds, the trigger label of the invocation metrics. Callers say which one an
// invocation comes from with WithTrigger.
const (
	TriggerHTTP      = "http"
	TriggerQueue     = "queue"
	TriggerStream    = "stream"
	TriggerWebSocket = "websocket"
	TriggerAsync     = "async"
	TriggerAdmin     = "admin"
)

// Outcomes of an invocation, the outcome label of edgefn_invocations_total.
const (
	OutcomeSuccess     = "success"
	OutcomeClientError = "client_error" // the function answered with a 4xx fn.Error
	OutcomeError       = "error"        // the function failed (an error, a panic, a 5xx)
	OutcomeTimeout     = "timeout"
	OutcomeCrashed     = "crashed"
	OutcomeRejected    = "rejected" // turned away before the function: overloaded, breaker open, not ready
	OutcomeCanceled    = "canceled" // the caller gave up
)

type triggerKey struct{}

// WithTrigger returns ctx saying which kind of trigger (TriggerHTTP, ...) its invocations
// come from, for the metrics.
func WithTrigger(ctx context.Context, kind string) context.Context {
	return context.WithValue(ctx, triggerKey{}, kind)
}

func triggerOf(ctx context.Context) string {
	if s, _ := ctx.Value(triggerKey{}).(string); s != "" {
		return s
	}
	return "unknown"
}

// outcomeOf labels an invocation's error.
func outcomeOf(err error) string {
	var fe *fn.Error
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, ErrTimeout):
		return OutcomeTimeout
	case errors.Is(err, ErrCrashed):
		return OutcomeCrashed
	case shed(err) || errors.Is(err, ErrNotReady) || errors.Is(err, ErrNotFound):
		return OutcomeRejected
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.As(err, &fe) && fe.Status < 500:
		return OutcomeClientError
	}
	return OutcomeError
}

// meters are the runtime's instruments (SPEC 9). The in-flight gauge and the restart counter
// read the functions' own counts when scraped, so invocations pay nothing for them.
type meters struct {
	invocations metric.Int64Counter
	duration    metric.Float64Histogram
	coldStarts  metric.Int64Counter
	startTime   metric.Float64Histogram
}

func newMeters(m metric.Meter, h *Host) (*meters, error) {
	if m == nil {
		m = noop.NewMeterProvider().Meter("edgefn/runtime")
	}
	ms := &meters{}
	var err error
	if ms.invocations, err = m.Int64Counter("edgefn_invocations",
		metric.WithDescription("Invocations of functions, by trigger kind and outcome.")); err != nil {
		return nil, err
	}
	if ms.duration, err = m.Float64Histogram("edgefn_invocation_duration", metric.WithUnit("s"),
		metric.WithDescription("How long invocations took, from the gateway's call to the function's answer (a batch's events share its time)."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, err
	}
	if ms.coldStarts, err = m.Int64Counter("edgefn_cold_starts",
		metric.WithDescription("Plugin processes started: at deploy, and after a crash.")); err != nil {
		return nil, err
	}
	if ms.startTime, err = m.Float64Histogram("edgefn_cold_start_duration", metric.WithUnit("s"),
		metric.WithDescription("From starting a plugin process to its data path being ready."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, err
	}
	inflight, err := m.Int64ObservableGauge("edgefn_inflight",
		metric.WithDescription("Invocations of each function in flight."))
	if err != nil {
		return nil, err
	}
	restarts, err := m.Int64ObservableCounter("edgefn_plugin_restarts",
		metric.WithDescription("Plugin processes restarted after they died."))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, f := range h.functions() {
			attrs := metric.WithAttributeSet(f.attrs)
			o.ObserveInt64(restarts, f.restarts.Load(), attrs)
			if v := f.current.Load(); v != nil {
				o.ObserveInt64(inflight, int64(v.limit.inflight()), attrs)
			}
		}
		return nil
	}, inflight, restarts)
	return ms, err
}

// invocationAttrs caches the attribute sets of one function's invocation series.
type invocationAttrs struct {
	function string
	m        sync.Map // invocationKey → *invocationSet
}

type invocationKey struct{ trigger, outcome string }

type invocationSet struct {
	counted, timed metric.MeasurementOption
}

func (a *invocationAttrs) get(trigger, outcome string) *invocationSet {
	k := invocationKey{trigger, outcome}
	if s, ok := a.m.Load(k); ok {
		return s.(*invocationSet)
	}
	fnAttr, trAttr := attribute.String("function", a.function), attribute.String("trigger", trigger)
	s := &invocationSet{
		counted: metric.WithAttributeSet(attribute.NewSet(fnAttr, trAttr, attribute.String("outcome", outcome))),
		timed:   metric.WithAttributeSet(attribute.NewSet(fnAttr, trAttr)),
	}
	got, _ := a.m.LoadOrStore(k, s)
	return got.(*invocationSet)
}

// record counts one invocation and its time.
func (f *Function) record(ctx context.Context, err error, took time.Duration) {
	if f.meters == nil {
		return
	}
	s := f.series.get(triggerOf(ctx), outcomeOf(err))
	f.meters.invocations.Add(ctx, 1, s.counted)
	f.meters.duration.Record(ctx, took.Seconds(), s.timed)
}

// recordBatch counts a batch's invocations, one per event, each timed as the batch: one
// counter update per distinct outcome.
func (f *Function) recordBatch(ctx context.Context, out []outcome, took time.Duration) {
	if f.meters == nil {
		return
	}
	trigger := triggerOf(ctx)
	counts := map[string]int64{}
	for _, o := range out {
		counts[outcomeOf(o.err)]++
	}
	seconds := took.Seconds()
	for outcome, n := range counts {
		s := f.series.get(trigger, outcome)
		f.meters.invocations.Add(ctx, n, s.counted)
		for range n {
			f.meters.duration.Record(ctx, seconds, s.timed)
		}
	}
}

// recordStart counts a plugin process start and its time.
func (m *meters) recordStart(function string, took time.Duration) {
	if m == nil {
		return
	}
	attrs := metric.WithAttributes(attribute.String("function", function))
	m.coldStarts.Add(context.Background(), 1, attrs)
	m.startTime.Record(context.Background(), took.Seconds(), attrs)
}
