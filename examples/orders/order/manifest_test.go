package order

import (
	"path/filepath"
	"testing"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// TestManifestKeepsNamesInStep loads ../manifests as edgefn does and checks what the YAML
// cannot: the stream and queue every function is told about (env) are the ones the triggers
// consume, and every stateful function runs one instance.
func TestManifestKeepsNamesInStep(t *testing.T) {
	set, err := manifest.LoadPaths(filepath.Join("..", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	fns := map[string]*manifest.Function{}
	for _, f := range set.Functions {
		fns[f.Name] = f
	}
	if len(fns) != 5 || len(set.Topics) != 1 || set.Topics[0].Match != "orders.{id}" {
		t.Fatalf("%d functions, topics %+v", len(fns), set.Topics)
	}
	var stream, queue string
	for _, tr := range fns["inventory"].Triggers {
		if tr.Queue != nil {
			queue = tr.Queue.Name
			if tr.Queue.MaxPriority < PriorityRelease || tr.Queue.DeadLetter == "" {
				t.Fatalf("the stock queue: %+v", tr.Queue)
			}
		}
	}
	for _, tr := range fns["payments"].Triggers {
		if tr.Stream != nil {
			stream = tr.Stream.Name
		}
	}
	if stream == "" || queue == "" {
		t.Fatalf("stream %q, queue %q", stream, queue)
	}
	for name, f := range fns {
		if v, ok := f.Env["ORDER_EVENTS"]; ok && v != stream {
			t.Errorf("%s: ORDER_EVENTS=%s, the stream is %s", name, v, stream)
		}
		if v, ok := f.Env["STOCK_QUEUE"]; ok && v != queue {
			t.Errorf("%s: STOCK_QUEUE=%s, the queue is %s", name, v, queue)
		}
		for _, tr := range f.Triggers {
			if tr.Stream != nil && tr.Stream.Name != stream {
				t.Errorf("%s reads the stream %s, not %s", name, tr.Stream.Name, stream)
			}
		}
		if sc := f.Scale; name != "create-order" && (sc.Min != 1 || sc.Max != 1) {
			t.Errorf("%s keeps its state in memory but runs %d to %d instances", name, sc.Min, sc.Max)
		}
	}
	for _, name := range []string{"create-order", "payments", "inventory", "order-saga"} {
		if _, ok := fns[name].Env["ORDER_EVENTS"]; !ok {
			t.Errorf("%s emits to the stream but is not told its name", name)
		}
	}
	for _, name := range []string{"create-order", "order-saga"} {
		if _, ok := fns[name].Env["STOCK_QUEUE"]; !ok {
			t.Errorf("%s queues stock commands but is not told the queue's name", name)
		}
	}
}
