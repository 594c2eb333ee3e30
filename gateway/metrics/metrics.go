// Package metrics is edgefn's metrics plumbing: one OpenTelemetry MeterProvider whose
// readings the Prometheus exporter serves at GET /metrics (docs/observability.md). Components take a
// metric.Meter from it and create their own instruments next to the code they measure; a
// hot path that an instrument would slow down (the runtime's invocation series) keeps its own
// counts and registers a Prometheus collector on the same registry (Registerer).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Metrics owns the meter provider and the Prometheus registry it exports to.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

// New builds the provider. Each Metrics has a registry of its own, so that tests and
// several servers in one process do not share series.
func New() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	return &Metrics{provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)), registry: reg}, nil
}

// Meter returns the meter components create their instruments with. A nil Metrics gives
// a meter that records nothing.
func (m *Metrics) Meter(name string) metric.Meter {
	if m == nil {
		return noop.NewMeterProvider().Meter(name)
	}
	return m.provider.Meter(name)
}

// Registerer returns the registry /metrics serves, for components that export series of
// their own (the runtime's invocation series) rather than through an instrument; nil for a
// nil Metrics.
func (m *Metrics) Registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.registry
}

// Handler serves the Prometheus text exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
