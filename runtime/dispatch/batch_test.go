package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/filter"
	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

// batchFn is a fakeFn that takes batches, recording their sizes.
type batchFn struct {
	*fakeFn
	mu    sync.Mutex
	sizes []int
}

func (f *batchFn) InvokeBatch(ctx context.Context, evs []*event.Event, _ []context.Context) ([]*event.Result, []error) {
	f.mu.Lock()
	f.sizes = append(f.sizes, len(evs))
	f.mu.Unlock()
	results, errs := make([]*event.Result, len(evs)), make([]error, len(evs))
	for k, ev := range evs {
		results[k], errs[k] = f.Invoke(ctx, ev)
	}
	return results, errs
}

func (f *batchFn) largest() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.sizes {
		n = max(n, s)
	}
	return n
}

// TestBatchedConsumerSettlesEachDelivery: deliveries received together reach the function in
// one batch, and each is settled on its own: filtered ones skipped, failures retried then
// dead-lettered, effects carried out before the ack, the rest acknowledged.
func TestBatchedConsumerSettlesEachDelivery(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	out, err := b.ConsumeStream(context.Background(), triggers.StreamOptions{Stream: "out", Group: "g", Consumer: "c", FromOldest: true})
	if err != nil {
		t.Fatal(err)
	}
	skip, err := filter.Compile(`event.type != "skip"`)
	if err != nil {
		t.Fatal(err)
	}
	f := &batchFn{fakeFn: &fakeFn{do: func(ev *event.Event) (*event.Result, error) {
		switch ev.Type {
		case "fail":
			return nil, errors.New("db down")
		case "emit":
			return event.Status(200).Emit(event.ToStream("out", "Done", map[string]string{"from": ev.ID})), nil
		}
		return event.Status(200), nil
	}}}
	// Published before the consumer starts, so that its first receive takes them together.
	var msgs []*triggers.Message
	types := []string{"ok", "fail", "emit", "skip", "ok", "ok", "emit", "ok"}
	for k, typ := range types {
		msgs = append(msgs, &triggers.Message{ID: typ + string(rune('a'+k)), Type: typ, Data: []byte(`{}`)})
	}
	publish(t, b, "in", msgs...)
	c := run(t, b, ConsumerConfig{Function: "f", EventSource: "queue/in", Filter: skip, Retries: 1,
		Backoff: 10 * time.Millisecond, Concurrency: 16}, "in", f, &Effects{Queues: b, Streams: b})

	testkit.Eventually(t, 10*time.Second, "every delivery settled", func() bool {
		return c.Stats.Handled.Load() == 6 && c.Stats.Skipped.Load() == 1 && c.Stats.DeadLettered.Load() == 1
	})
	if n := f.largest(); n < 2 {
		t.Errorf("the largest batch held %d events; deliveries received together should share one", n)
	}
	if r := c.Stats.Retried.Load(); r != 1 {
		t.Errorf("retried %d, want 1", r)
	}
	dead, _ := b.ListDead(context.Background(), "in.dlq", 10)
	if len(dead) != 1 || dead[0].ID != "failb" || dead[0].Attempts != 2 {
		t.Errorf("dead letters %+v, want failb after 2 attempts", dead)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := map[string]bool{}
	for len(got) < 2 {
		ds, err := out.Receive(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			got[d.ID] = true
		}
	}
	if !got["emitc/f/0"] || !got["emitg/f/0"] {
		t.Errorf("emitted %v, want the effects of emitc and emitg", got)
	}
}
