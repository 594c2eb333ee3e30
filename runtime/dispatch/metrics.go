package dispatch

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/edgefn/edgefn/triggers"
)

// lagTimeout bounds the broker round trips one scrape makes for edgefn_trigger_lag.
const lagTimeout = 2 * time.Second

// instrument registers the triggers' series, read from the running consumers when scraped:
// retries, dead letters and filtered-out deliveries (counters), and each trigger's lag (a
// gauge; one broker round trip per trigger, concurrently, at each scrape). Series are labelled
// with the function and the trigger ("queue/NAME", "stream/NAME" or "async").
func (m *Manager) instrument(meter metric.Meter) error {
	retries, err := meter.Int64ObservableCounter("edgefn_trigger_retries",
		metric.WithDescription("Deliveries that failed and were scheduled again."))
	if err != nil {
		return err
	}
	dead, err := meter.Int64ObservableCounter("edgefn_trigger_dead_letters",
		metric.WithDescription("Deliveries given up after their last attempt and dead-lettered."))
	if err != nil {
		return err
	}
	skipped, err := meter.Int64ObservableCounter("edgefn_trigger_skipped",
		metric.WithDescription("Deliveries a trigger's filter skipped."))
	if err != nil {
		return err
	}
	lag, err := meter.Int64ObservableGauge("edgefn_trigger_lag",
		metric.WithDescription("Messages waiting for a trigger: ready in its queue, or not yet delivered to its stream group."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		m.mu.Lock()
		consumers := make([]*Consumer, 0, len(m.running))
		for _, r := range m.running {
			consumers = append(consumers, r.consumer)
		}
		m.mu.Unlock()
		lags := make([]int64, len(consumers))
		known := make([]bool, len(consumers))
		lctx, cancel := context.WithTimeout(ctx, lagTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for i, c := range consumers {
			if l, ok := c.src.(triggers.Lagger); ok {
				wg.Go(func() {
					n, err := l.Lag(lctx)
					lags[i], known[i] = n, err == nil
				})
			}
		}
		wg.Wait()
		for i, c := range consumers {
			attrs := metric.WithAttributeSet(c.attrs)
			o.ObserveInt64(retries, c.Stats.Retried.Load(), attrs)
			o.ObserveInt64(dead, c.Stats.DeadLettered.Load(), attrs)
			o.ObserveInt64(skipped, c.Stats.Skipped.Load(), attrs)
			if known[i] {
				o.ObserveInt64(lag, lags[i], attrs)
			}
		}
		return nil
	}, retries, dead, skipped, lag)
	return err
}

// triggerAttrs labels a consumer's series.
func triggerAttrs(cfg ConsumerConfig) attribute.Set {
	return attribute.NewSet(attribute.String("function", cfg.Function), attribute.String("trigger", cfg.EventSource))
}
