package runtime

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/edgefn/edgefn/runtime/event"
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
	TriggerSchedule  = "schedule"
)

// Outcomes of an invocation, the outcome label of edgefn_invocations_total.
const (
	OutcomeSuccess     = "success"
	OutcomeClientError = "client_error" // the function answered with a 4xx event.Error
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
	if err == nil {
		return OutcomeSuccess
	}
	var fe *event.Error // escapes: declared past the common case
	switch {
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

// meters are the runtime's OpenTelemetry instruments (docs/observability.md). The in-flight gauge and the
// restart counter read the functions' own counts when scraped, so invocations pay nothing for
// them; the invocation series are the functions' own too (see series).
type meters struct {
	coldStarts  metric.Int64Counter
	startTime   metric.Float64Histogram
	scaleEvents metric.Int64Counter
}

func newMeters(m metric.Meter, h *Host) (*meters, error) {
	if m == nil {
		m = noop.NewMeterProvider().Meter("edgefn/runtime")
	}
	ms := &meters{}
	var err error
	if ms.coldStarts, err = m.Int64Counter("edgefn_cold_starts",
		metric.WithDescription("Plugin processes started: at deploy, and after a crash.")); err != nil {
		return nil, err
	}
	if ms.startTime, err = m.Float64Histogram("edgefn_cold_start_duration", metric.WithUnit("s"),
		metric.WithDescription("From starting a plugin process to its data path being ready."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, err
	}
	if ms.scaleEvents, err = m.Int64Counter("edgefn_scale_events",
		metric.WithDescription("Changes of a function's process count by the scaler, by direction: up, down.")); err != nil {
		return nil, err
	}
	instances, err := m.Int64ObservableGauge("edgefn_instances",
		metric.WithDescription("Plugin processes of each function's current version, by state: starting, ready, draining."))
	if err != nil {
		return nil, err
	}
	inflight, err := m.Int64ObservableGauge("edgefn_inflight",
		metric.WithDescription("Invocations of each function in flight."))
	if err != nil {
		return nil, err
	}
	restarts, err := m.Int64ObservableCounter("edgefn_plugin_restarts",
		metric.WithDescription("Plugin processes restarted after they died, by reason: crash, or memory (killed over its limit)."))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, f := range h.functions() {
			attrs := metric.WithAttributeSet(f.attrs)
			o.ObserveInt64(restarts, f.restarts.crash.Load(), metric.WithAttributeSet(f.restartAttrs[0]))
			o.ObserveInt64(restarts, f.restarts.memory.Load(), metric.WithAttributeSet(f.restartAttrs[1]))
			if v := f.current.Load(); v != nil {
				o.ObserveInt64(inflight, int64(v.limit.inflight()), attrs)
				ready := v.pool.readyCount()
				for k, n := range [...]int{max(int(v.pool.want.Load())-ready, 0), ready, int(v.pool.draining.Load())} {
					o.ObserveInt64(instances, int64(n), metric.WithAttributeSet(f.stateAttrs[k]))
				}
			}
		}
		return nil
	}, inflight, restarts, instances)
	return ms, err
}

// triggers and outcomes are the label values of the invocation series, in the order of their
// indexes in series.
var (
	triggers = [...]string{TriggerHTTP, TriggerQueue, TriggerStream, TriggerWebSocket, TriggerAsync, TriggerAdmin, TriggerSchedule, "unknown"}
	outcomes = [...]string{OutcomeSuccess, OutcomeClientError, OutcomeError, OutcomeTimeout, OutcomeCrashed, OutcomeRejected, OutcomeCanceled}
)

// durationBounds are the upper bounds of edgefn_invocation_duration_seconds' buckets.
var durationBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// series holds one function's edgefn_invocations_total and edgefn_invocation_duration_seconds
// in atomics indexed by trigger and outcome: an invocation costs a few atomic adds, where an
// OpenTelemetry instrument spent about half a microsecond resolving its attributes. Prometheus
// reads them through the Host's collector.
type series struct {
	byTrigger [len(triggers)]struct {
		outcomes [len(outcomes)]atomic.Int64
		buckets  [len(durationBounds) + 1]atomic.Int64 // not cumulative; the last is +Inf
		sumNanos atomic.Int64
	}
}

func triggerIndex(ctx context.Context) int { return indexOf(triggers[:], triggerOf(ctx)) }

func outcomeIndex(err error) int { return indexOf(outcomes[:], outcomeOf(err)) }

// indexOf returns the index of s in labels, or the last index when s is not there (the
// trigger "unknown"; outcomeOf only returns outcomes listed).
func indexOf(labels []string, s string) int {
	for i, l := range labels {
		if l == s {
			return i
		}
	}
	return len(labels) - 1
}

// add counts n invocations of one trigger and outcome, each of which took took.
func (s *series) add(trigger, outcome int, n int64, took time.Duration) {
	t := &s.byTrigger[trigger]
	t.outcomes[outcome].Add(n)
	secs, b := took.Seconds(), 0
	for b < len(durationBounds) && secs > durationBounds[b] {
		b++
	}
	t.buckets[b].Add(n)
	t.sumNanos.Add(n * int64(took))
}

// record counts the invocations of a batch (a call is a batch of one), one per event with
// its outcome, each timed as the batch.
func (f *Function) record(ctx context.Context, out []outcome, took time.Duration) {
	var counts [len(outcomes)]int64
	for _, o := range out {
		counts[outcomeIndex(o.err)]++
	}
	trigger := triggerIndex(ctx)
	for outcome, n := range counts {
		if n > 0 {
			f.series.add(trigger, outcome, n, took)
		}
	}
}

var (
	invocationsDesc = prometheus.NewDesc("edgefn_invocations_total",
		"Invocations of functions, by trigger kind and outcome.", []string{"function", "trigger", "outcome"}, nil)
	durationDesc = prometheus.NewDesc("edgefn_invocation_duration_seconds",
		"How long invocations took, from the gateway's call to the function's answer (a batch's events share its time).",
		[]string{"function", "trigger"}, nil)
)

// collector exports the deployed functions' invocation series to Prometheus. A series shows
// once it has counted an invocation; a deleted function's series go with it.
type collector struct{ h *Host }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- invocationsDesc
	ch <- durationDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.h.functions() {
		for ti := range f.series.byTrigger {
			t := &f.series.byTrigger[ti]
			for oi := range t.outcomes {
				if n := t.outcomes[oi].Load(); n > 0 {
					ch <- prometheus.MustNewConstMetric(invocationsDesc, prometheus.CounterValue, float64(n), f.name, triggers[ti], outcomes[oi])
				}
			}
			var count uint64
			cumulative := make(map[float64]uint64, len(durationBounds))
			for b, bound := range durationBounds {
				count += uint64(t.buckets[b].Load())
				cumulative[bound] = count
			}
			count += uint64(t.buckets[len(durationBounds)].Load())
			if count > 0 {
				sum := time.Duration(t.sumNanos.Load()).Seconds()
				ch <- prometheus.MustNewConstHistogram(durationDesc, count, sum, cumulative, f.name, triggers[ti])
			}
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
