package runtime

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRecord is what counting one invocation costs on the hot path.
func BenchmarkRecord(b *testing.B) {
	f := newFunction("hello", nil, nil)
	ctx := WithTrigger(context.Background(), TriggerHTTP)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		out := []outcome{{}}
		for pb.Next() {
			f.record(ctx, out, 300*time.Microsecond)
		}
	})
}

// TestInvocationSeriesExport: the invocation series reach Prometheus with their labels,
// counts, buckets and sums; a series shows once it has counted something.
func TestInvocationSeriesExport(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := NewHost(Config{DataDir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	f := newFunction("hello", nil, nil)
	h.all.Store(&[]*Function{f})
	httpCtx, streamCtx := WithTrigger(context.Background(), TriggerHTTP), WithTrigger(context.Background(), TriggerStream)
	f.record(httpCtx, []outcome{{}}, 300*time.Microsecond)                         // bucket 0.0005
	f.record(httpCtx, []outcome{{}}, time.Millisecond)                             // bucket 0.001 (bounds are inclusive)
	f.record(httpCtx, []outcome{{err: &event.Error{Status: 404}}}, 2*time.Second)  // client_error, bucket 2.5
	f.record(httpCtx, []outcome{{err: ErrTimeout}}, time.Minute)                   // timeout, bucket +Inf
	f.record(streamCtx, []outcome{{}, {}, {err: ErrCrashed}}, 20*time.Millisecond) // a batch

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, fam := range fams {
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := fam.GetName() + "{" + strings.Join(labels, ",") + "}"
			if c := m.GetCounter(); c != nil {
				got[key] = fmt.Sprint(c.GetValue())
			}
			if hg := m.GetHistogram(); hg != nil {
				var buckets []string
				for _, b := range hg.GetBucket() {
					buckets = append(buckets, fmt.Sprintf("%g:%d", b.GetUpperBound(), b.GetCumulativeCount()))
				}
				got[key] = fmt.Sprintf("count %d sum %.4f %s", hg.GetSampleCount(), hg.GetSampleSum(), strings.Join(buckets, " "))
			}
		}
	}
	want := map[string]string{
		"edgefn_invocations_total{function=hello,outcome=success,trigger=http}":      "2",
		"edgefn_invocations_total{function=hello,outcome=client_error,trigger=http}": "1",
		"edgefn_invocations_total{function=hello,outcome=timeout,trigger=http}":      "1",
		"edgefn_invocations_total{function=hello,outcome=success,trigger=stream}":    "2",
		"edgefn_invocations_total{function=hello,outcome=crashed,trigger=stream}":    "1",
		"edgefn_invocation_duration_seconds{function=hello,trigger=http}": "count 4 sum 62.0013 " +
			"0.0005:1 0.001:2 0.0025:2 0.005:2 0.01:2 0.025:2 0.05:2 0.1:2 0.25:2 0.5:2 1:2 2.5:3 5:3 10:3 30:3",
		"edgefn_invocation_duration_seconds{function=hello,trigger=stream}": "count 3 sum 0.0600 " +
			"0.0005:0 0.001:0 0.0025:0 0.005:0 0.01:0 0.025:3 0.05:3 0.1:3 0.25:3 0.5:3 1:3 2.5:3 5:3 10:3 30:3",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("exported %d series, want %d: %v", len(got), len(want), got)
	}
}
