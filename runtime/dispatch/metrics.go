package dispatch

import (
	"context"
	"strings"
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
	replies, err := meter.Int64ObservableCounter("edgefn_trigger_replies",
		metric.WithDescription("Answers to RPC requests (queue messages with a reply-to), by outcome: sent, error (an error reply after the request failed for good), returned (the reply queue was gone) or failed (not published)."))
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
			if r.consumer != nil {
				consumers = append(consumers, r.consumer)
			}
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
			if c.replyAttrs != nil {
				r := &c.Stats.Replies
				for k, n := range [...]int64{r.Sent.Load(), r.Error.Load(), r.Returned.Load(), r.Failed.Load()} {
					o.ObserveInt64(replies, n, metric.WithAttributeSet(c.replyAttrs[k]))
				}
			}
		}
		return nil
	}, retries, dead, skipped, replies, lag)
	if err != nil {
		return err
	}
	return m.instrumentSchedules(meter)
}

// instrumentSchedules registers edgefn_schedule_runs_total: the runs of schedule triggers
// on this node, by function and outcome (success, error, or skipped because the previous run
// still went), and edgefn_schedule_lag_seconds: how late the last run on this node started.
func (m *Manager) instrumentSchedules(meter metric.Meter) error {
	runs, err := meter.Int64ObservableCounter("edgefn_schedule_runs",
		metric.WithDescription("Runs (attempts) of schedule triggers on this node, by outcome: success, error, or skipped (a tick while the previous run still went)."))
	if err != nil {
		return err
	}
	lag, err := meter.Float64ObservableGauge("edgefn_schedule_lag_seconds",
		metric.WithDescription("How late after its instant the last scheduled run on this node started."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range m.sortedStats() {
			for i, n := range [...]int64{s.Success.Load(), s.Error.Load(), s.Skipped.Load()} {
				o.ObserveInt64(runs, n, metric.WithAttributeSet(s.attrs[i]))
			}
			if l := s.Lag.Load(); l >= 0 {
				o.ObserveFloat64(lag, time.Duration(l).Seconds(), metric.WithAttributeSet(s.fn))
			}
		}
		return nil
	}, runs, lag)
	return err
}

// triggerAttrs labels a consumer's series.
func triggerAttrs(cfg ConsumerConfig) attribute.Set {
	return attribute.NewSet(attribute.String("function", cfg.Function), attribute.String("trigger", cfg.EventSource))
}

// replyAttrs labels a queue consumer's edgefn_trigger_replies series, in the order of the
// outcomes of ReplyStats; nil for the other consumers, which take no RPC requests.
func replyAttrs(cfg ConsumerConfig) []attribute.Set {
	if cfg.Async != nil || !strings.HasPrefix(cfg.EventSource, "queue/") {
		return nil
	}
	var sets []attribute.Set
	for _, outcome := range []string{"sent", "error", "returned", "failed"} {
		sets = append(sets, attribute.NewSet(attribute.String("function", cfg.Function),
			attribute.String("trigger", cfg.EventSource), attribute.String("outcome", outcome)))
	}
	return sets
}
