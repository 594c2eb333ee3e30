package triggertest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

// TopicFeatures says what a WebSocket fan-out backend offers beyond the common contract.
type TopicFeatures struct {
	// Name names the backend in test output.
	Name string
	// Drop, when set, breaks the backend's fan-out connections (not its history), so the
	// suite can check that listeners are told to resync and keep receiving. Nil: not tested,
	// and the suite says so.
	Drop func(t *testing.T)
}

// NewTopics returns the backend under test with opts. It may be called more than once in a
// subtest, always with the same options, and the values it returns must be nodes of one
// backend: what one publishes, every one's listeners hear (an in-process backend can
// return the same value). It cleans up after itself with t.Cleanup.
type NewTopics func(t *testing.T, opts triggers.HistoryOptions) triggers.Topics

// RunTopics runs the conformance suite of triggers.Topics.
func RunTopics(t *testing.T, newTopics NewTopics, f TopicFeatures) {
	t.Run("OffsetsConsecutiveFromOne", func(t *testing.T) { topicOffsets(t, newTopics) })
	t.Run("ListenerSeesEachOnceInOrder", func(t *testing.T) { topicOrder(t, newTopics) })
	t.Run("TwoNodesSeeEachOnce", func(t *testing.T) { topicTwoNodes(t, newTopics) })
	t.Run("ConcurrentPublishers", func(t *testing.T) { topicConcurrent(t, newTopics) })
	t.Run("FreshTopicHasStableEpoch", func(t *testing.T) { topicFresh(t, newTopics) })
	t.Run("RecoversExactlyTheMissed", func(t *testing.T) { topicRecovery(t, newTopics) })
	t.Run("NoPartialRecoveryBeyondSize", func(t *testing.T) { topicBeyondSize(t, newTopics) })
	t.Run("NoRecoveryAfterTTL", func(t *testing.T) { topicTTL(t, newTopics) })
	t.Run("DataCopied", func(t *testing.T) { topicDataCopied(t, newTopics) })
	t.Run("ListenStopsOnCancel", func(t *testing.T) { topicListenStops(t, newTopics) })
	t.Run("ResyncAfterDrop", func(t *testing.T) {
		if f.Drop == nil {
			t.Skipf("%s declares no fan-out connection to drop", f.Name)
		}
		topicResync(t, newTopics, f.Drop)
	})
}

func topicOffsets(t *testing.T, newTopics NewTopics) {
	tp := newTopics(t, triggers.HistoryOptions{})
	topic := unique(t, "topic")
	r := listen(t, tp, topic)
	var sent []triggers.Position
	for i := range 5 {
		sent = append(sent, publishTopic(t, tp, topic, i))
	}
	for i, p := range sent {
		if p.Offset != uint64(i+1) || p.Epoch != sent[0].Epoch || p.Epoch == "" {
			t.Fatalf("publication %d at %+v, want offset %d in epoch %q", i, p, i+1, sent[0].Epoch)
		}
	}
	got := r.wait(t, len(sent))
	for i, p := range got {
		if p.Position != sent[i] {
			t.Fatalf("listener saw publication %d at %+v, PublishTopic returned %+v", i, p.Position, sent[i])
		}
	}
}

func topicOrder(t *testing.T, newTopics NewTopics) {
	tp := newTopics(t, triggers.HistoryOptions{})
	topic := unique(t, "topic")
	r := listen(t, tp, topic)
	const n = 200
	for i := range n {
		publishTopic(t, tp, topic, i)
	}
	checkSeries(t, r.wait(t, n), n)
	publishTopic(t, tp, topic, n) // a marker: nothing seen twice before it
	checkSeries(t, r.wait(t, n+1), n+1)
}

func topicTwoNodes(t *testing.T, newTopics NewTopics) {
	opts := triggers.HistoryOptions{}
	a, b := newTopics(t, opts), newTopics(t, opts)
	topic := unique(t, "topic")
	ra, rb := listen(t, a, topic), listen(t, b, topic)
	const n = 50
	for i := range n {
		node := a
		if i%2 == 1 {
			node = b
		}
		publishTopic(t, node, topic, i)
	}
	publishTopic(t, a, topic, n)
	checkSeries(t, ra.wait(t, n+1), n+1)
	checkSeries(t, rb.wait(t, n+1), n+1)
}

func topicConcurrent(t *testing.T, newTopics NewTopics) {
	tp := newTopics(t, triggers.HistoryOptions{Size: 1000})
	topic := unique(t, "topic")
	r := listen(t, tp, topic)
	const publishers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, publishers*each)
	ctx := testkit.Context(t, 20*time.Second)
	for g := range publishers {
		wg.Go(func() {
			for i := range each {
				data := fmt.Appendf(nil, `{"n":%d}`, g*each+i)
				if _, err := tp.PublishTopic(ctx, topic, data); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("publish: %v", err)
	}
	got := r.wait(t, publishers*each)
	seen := map[string]bool{}
	for i, p := range got {
		if p.Offset != uint64(i+1) || p.Epoch != got[0].Epoch {
			t.Fatalf("publication %d of the listener at %+v, want offset %d in epoch %q", i, p.Position, i+1, got[0].Epoch)
		}
		seen[string(p.Data)] = true
	}
	if len(seen) != publishers*each {
		t.Fatalf("listener saw %d distinct payloads, want %d", len(seen), publishers*each)
	}
}

func topicFresh(t *testing.T, newTopics NewTopics) {
	tp := newTopics(t, triggers.HistoryOptions{})
	topic := unique(t, "topic")
	first := history(t, tp, topic, nil)
	if first.top.Offset != 0 || first.top.Epoch == "" {
		t.Fatalf("fresh topic at %+v, want offset 0 of an epoch", first.top)
	}
	if again := history(t, tp, topic, nil); again.top != first.top {
		t.Fatalf("fresh topic at %+v, then at %+v: the epoch must hold", first.top, again.top)
	}
	if got := history(t, tp, topic, &first.top); !got.recovered || len(got.pubs) != 0 {
		t.Fatalf("since the fresh position: recovered %v with %d publications, want recovered and none", got.recovered, len(got.pubs))
	}
	if p := publishTopic(t, tp, topic, 0); p != (triggers.Position{Epoch: first.top.Epoch, Offset: 1}) {
		t.Fatalf("first publication at %+v, want offset 1 of epoch %q", p, first.top.Epoch)
	}
	if got := history(t, tp, topic, &first.top); !got.recovered || len(got.pubs) != 1 || got.pubs[0].Offset != 1 {
		t.Fatalf("since the fresh position after one publication: recovered %v with %d publications", got.recovered, len(got.pubs))
	}
}

func topicRecovery(t *testing.T, newTopics NewTopics) {
	tp := newTopics(t, triggers.HistoryOptions{})
	topic := unique(t, "topic")
	var top triggers.Position
	for i := range 10 {
		top = publishTopic(t, tp, topic, i)
	}
	got := history(t, tp, topic, &triggers.Position{Epoch: top.Epoch, Offset: 5})
	if !got.recovered || got.top != top {
		t.Fatalf("since offset 5 of 10: recovered %v at %+v, want recovered at %+v", got.recovered, got.top, top)
	}
	if len(got.pubs) != 5 {
		t.Fatalf("since offset 5 of 10: %d publications, want 5", len(got.pubs))
	}
	for i, p := range got.pubs {
		if p.Topic != topic || p.Epoch != top.Epoch || p.Offset != uint64(6+i) || string(p.Data) != payload(5+i) {
			t.Fatalf("recovered publication %d is %s %+v %s, want offset %d with %s", i, p.Topic, p.Position, p.Data, 6+i, payload(5+i))
		}
	}
	if got := history(t, tp, topic, &top); !got.recovered || len(got.pubs) != 0 {
		t.Fatalf("since the top: recovered %v with %d publications, want recovered and none", got.recovered, len(got.pubs))
	}
	unrecovered := map[string]triggers.Position{
		"another epoch":  {Epoch: top.Epoch + "x", Offset: 5},
		"an empty epoch": {Offset: 5},
		"beyond the top": {Epoch: top.Epoch, Offset: 11},
	}
	for what, since := range unrecovered {
		if got := history(t, tp, topic, &since); got.recovered || len(got.pubs) != 0 || got.top != top {
			t.Fatalf("since %s: recovered %v with %d publications at %+v, want not recovered, none, at %+v",
				what, got.recovered, len(got.pubs), got.top, top)
		}
	}
}

func topicBeyondSize(t *testing.T, newTopics NewTopics) {
	const size = 4
	tp := newTopics(t, triggers.HistoryOptions{Size: size})
	topic := unique(t, "topic")
	var top triggers.Position
	for i := range size + 5 {
		top = publishTopic(t, tp, topic, i)
	}
	for _, off := range []uint64{0, 1, top.Offset - size - 1} {
		if got := history(t, tp, topic, &triggers.Position{Epoch: top.Epoch, Offset: off}); got.recovered || len(got.pubs) != 0 {
			t.Fatalf("since offset %d of %d with size %d: recovered %v with %d publications, want no partial recovery",
				off, top.Offset, size, got.recovered, len(got.pubs))
		}
	}
	got := history(t, tp, topic, &triggers.Position{Epoch: top.Epoch, Offset: top.Offset - size})
	if !got.recovered || len(got.pubs) != size || got.pubs[0].Offset != top.Offset-size+1 {
		t.Fatalf("since offset %d of %d with size %d: recovered %v with %d publications, want the last %d",
			top.Offset-size, top.Offset, size, got.recovered, len(got.pubs), size)
	}
}

func topicTTL(t *testing.T, newTopics NewTopics) {
	tp := newTopics(t, triggers.HistoryOptions{TTL: 300 * time.Millisecond})
	topic := unique(t, "topic")
	first := publishTopic(t, tp, topic, 0)
	publishTopic(t, tp, topic, 1)
	publishTopic(t, tp, topic, 2)
	since := first
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := history(t, tp, topic, &since)
		if !got.recovered {
			if len(got.pubs) != 0 {
				t.Fatalf("not recovered, yet %d publications", len(got.pubs))
			}
			return
		}
		if len(got.pubs) != 2 {
			t.Fatalf("recovered with %d publications, want 2 (never partial)", len(got.pubs))
		}
		if time.Now().After(deadline) {
			t.Fatalf("publications with a 300ms TTL still recovered after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func topicDataCopied(t *testing.T, newTopics NewTopics) {
	tp := newTopics(t, triggers.HistoryOptions{})
	topic := unique(t, "topic")
	r := listen(t, tp, topic)
	since := history(t, tp, topic, nil).top
	buf := []byte(`{"v":"original"}`)
	if _, err := tp.PublishTopic(testkit.Context(t, 10*time.Second), topic, buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, `{"v":"CLOBBERED"}`)
	if got := string(r.wait(t, 1)[0].Data); got != `{"v":"original"}` {
		t.Fatalf("listener got %s after the caller reused its buffer", got)
	}
	got := history(t, tp, topic, &since)
	if !got.recovered || len(got.pubs) != 1 || string(got.pubs[0].Data) != `{"v":"original"}` {
		t.Fatalf("history after the caller reused its buffer: recovered %v, %d publications", got.recovered, len(got.pubs))
	}
}

func topicListenStops(t *testing.T, newTopics NewTopics) {
	tp := newTopics(t, triggers.HistoryOptions{})
	topic := unique(t, "topic")
	// Warm up whatever the backend starts lazily (connection pools), then count.
	warm := listen(t, tp, topic)
	publishTopic(t, tp, topic, 0)
	warm.wait(t, 1)
	base := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &topicRecorder{topic: topic}
	if err := tp.ListenTopics(ctx, r); err != nil {
		t.Fatal(err)
	}
	publishTopic(t, tp, topic, 1)
	r.wait(t, 1)
	cancel()
	waitGoroutines(t, base)
	publishTopic(t, tp, topic, 2)
	warm.wait(t, 3) // the other listener heard it, so the stopped one would have by now
	if n := len(r.snapshot()); n != 1 {
		t.Fatalf("a listener whose context ended got %d publications, want only the 1 before", n)
	}
}

func topicResync(t *testing.T, newTopics NewTopics, drop func(t *testing.T)) {
	tp := newTopics(t, triggers.HistoryOptions{})
	topic := unique(t, "topic")
	r := listen(t, tp, topic)
	publishTopic(t, tp, topic, 0)
	r.wait(t, 1)
	drop(t)
	testkit.Eventually(t, 30*time.Second, "a resync after the drop", func() bool { return r.resyncs() > 0 })
	publishTopic(t, tp, topic, 1)
	checkSeries(t, r.wait(t, 2), 2)
}

// topicRecorder is a listener that keeps the publications of one topic: the backend is
// shared with other tests.
type topicRecorder struct {
	topic  string
	mu     sync.Mutex
	pubs   []*triggers.Publication
	resync int
}

func (r *topicRecorder) Publication(p *triggers.Publication) {
	if p.Topic != r.topic {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pubs = append(r.pubs, p)
}

func (r *topicRecorder) Resync() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resync++
}

func (r *topicRecorder) snapshot() []*triggers.Publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pubs)
}

func (r *topicRecorder) resyncs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resync
}

// wait waits until the recorder holds at least n publications and returns them all.
func (r *topicRecorder) wait(t *testing.T, n int) []*triggers.Publication {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, strconv.Itoa(n)+" publications", func() bool { return len(r.snapshot()) >= n })
	return r.snapshot()
}

// listen registers a recorder of topic until the test ends.
func listen(t *testing.T, tp triggers.Topics, topic string) *topicRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &topicRecorder{topic: topic}
	if err := tp.ListenTopics(ctx, r); err != nil {
		t.Fatalf("listen: %v", err)
	}
	return r
}

// payload is the data of the i-th publication of a test.
func payload(i int) string { return `{"n":` + strconv.Itoa(i) + `}` }

func publishTopic(t *testing.T, tp triggers.Topics, topic string, i int) triggers.Position {
	t.Helper()
	p, err := tp.PublishTopic(testkit.Context(t, 10*time.Second), topic, []byte(payload(i)))
	if err != nil {
		t.Fatalf("publish %d to %s: %v", i, topic, err)
	}
	return p
}

type historyResult struct {
	top       triggers.Position
	pubs      []*triggers.Publication
	recovered bool
}

func history(t *testing.T, tp triggers.Topics, topic string, since *triggers.Position) historyResult {
	t.Helper()
	top, pubs, ok, err := tp.TopicHistory(testkit.Context(t, 10*time.Second), topic, since)
	if err != nil {
		t.Fatalf("history of %s since %v: %v", topic, since, err)
	}
	return historyResult{top, pubs, ok}
}

// checkSeries checks that got are exactly payloads 0..n-1 at offsets 1..n of one epoch.
func checkSeries(t *testing.T, got []*triggers.Publication, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("listener saw %d publications, want %d exactly", len(got), n)
	}
	for i, p := range got {
		if p.Offset != uint64(i+1) || p.Epoch != got[0].Epoch || string(p.Data) != payload(i) {
			t.Fatalf("publication %d is %+v %s, want offset %d with %s", i, p.Position, p.Data, i+1, payload(i))
		}
	}
}

// waitGoroutines waits until no more than n goroutines run, as goleak does, and dumps
// them all when they do not end.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines 10s after the listener's context ended, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
