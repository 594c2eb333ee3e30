package ws

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edgefn/edgefn/internal/filter"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
)

// historyOnly is a Topics whose history the test writes; it fans out nothing by itself.
type historyOnly struct {
	mu    sync.Mutex
	epoch string
	pubs  []*triggers.Publication // consecutive offsets
	// duringRead and afterRead, when set, run inside TopicHistory before and after it takes
	// its snapshot: publications that race with a subscribe.
	duringRead, afterRead func()
}

func (h *historyOnly) PublishTopic(context.Context, string, []byte) (triggers.Position, error) {
	panic("not used")
}

func (h *historyOnly) ListenTopics(context.Context, triggers.TopicListener) error { return nil }

func (h *historyOnly) TopicHistory(_ context.Context, _ string, since *triggers.Position) (triggers.Position, []*triggers.Publication, bool, error) {
	if f := h.duringRead; f != nil {
		h.duringRead = nil
		f()
	}
	if f := h.afterRead; f != nil {
		h.afterRead = nil
		defer f()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	top := triggers.Position{Epoch: h.epoch}
	if n := len(h.pubs); n > 0 {
		top = h.pubs[n-1].Position
	}
	if since == nil {
		return top, nil, false, nil
	}
	if since.Epoch != h.epoch || len(h.pubs) == 0 || h.pubs[0].Offset > since.Offset+1 {
		return top, nil, since.Epoch == h.epoch && since.Offset == top.Offset, nil
	}
	var out []*triggers.Publication
	for _, p := range h.pubs {
		if p.Offset > since.Offset {
			out = append(out, p)
		}
	}
	return top, out, true, nil
}

func (h *historyOnly) add(from, to uint64) []*triggers.Publication {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*triggers.Publication
	for i := from; i <= to; i++ {
		p := &triggers.Publication{Topic: "t.x", Position: triggers.Position{Epoch: h.epoch, Offset: i}, Data: []byte(strconv.FormatUint(i, 10))}
		h.pubs = append(h.pubs, p)
		out = append(out, p)
	}
	return out
}

// liveSub registers a live subscription of a connection without a socket to t.x.
func liveSub(h *Hub) *conn {
	c := &conn{hub: h, out: newSendQueue(100, 1<<20, func() {}), ctx: context.Background()}
	sub := h.registry.add(c, "t.x")
	sub.topics.mu.Lock()
	sub.live = true
	sub.topics.last, sub.topics.known = triggers.Position{Epoch: "e1"}, true
	sub.topics.mu.Unlock()
	return c
}

// offsets decodes the publication frames queued for c.
func offsets(t *testing.T, c *conn) []string {
	t.Helper()
	frames, _, _, _ := c.out.take()
	var out []string
	for _, f := range frames {
		var p struct{ Offset string }
		if err := json.Unmarshal(framePayload(t, f), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Offset)
	}
	return out
}

func TestDeliverFillsGapsAndDropsDuplicates(t *testing.T) {
	topics := &historyOnly{epoch: "e1"}
	h, err := New(Config{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	c := liveSub(h)
	pubs := topics.add(1, 5)
	h.Publication(pubs[0])
	h.Publication(pubs[1])
	h.Publication(pubs[1]) // a duplicate
	h.Publication(pubs[4]) // 3 and 4 were missed: read from the history
	if got := offsets(t, c); len(got) != 5 || got[0] != "1" || got[4] != "5" || got[2] != "3" {
		t.Fatalf("delivered %v, want 1..5", got)
	}

	// After a broken fan-out connection, Resync reads what was missed.
	topics.add(6, 7)
	h.Resync()
	if got := offsets(t, c); len(got) != 2 || got[0] != "6" || got[1] != "7" {
		t.Fatalf("resync delivered %v, want 6, 7", got)
	}

	// A gap the history no longer holds closes the subscribers with 1012, so they
	// resubscribe and learn that recovery failed, instead of missing something silently.
	topics.mu.Lock()
	topics.pubs = nil
	topics.mu.Unlock()
	far := topics.add(20, 20)
	h.Publication(far[0])
	frames, _, closing, _ := c.out.take()
	if len(frames) != 0 || closing == nil || closing.code != CloseRestart {
		t.Fatalf("unrecoverable gap: %d frames, close %+v; want a 1012 close", len(frames), closing)
	}
}

// TestSubscribeRacingPublications subscribes with recovery while publications arrive before
// and after the history read: the client gets the reply first, then every later publication
// exactly once, in order.
func TestSubscribeRacingPublications(t *testing.T) {
	topics := &historyOnly{epoch: "e1"}
	h, err := New(Config{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	allow, err := filter.CompileRule("true")
	if err != nil {
		t.Fatal(err)
	}
	h.SetRules([]*manifest.TopicRule{{Match: "t.*", Subscribe: allow, Publish: allow}})
	topics.add(1, 3)
	// 4 arrives before the history read (it is in the history, and buffered), 5 after it
	// (only buffered).
	topics.duringRead = func() { h.Publication(topics.add(4, 4)[0]) }
	topics.afterRead = func() { h.Publication(topics.add(5, 5)[0]) }
	c := &conn{hub: h, out: newSendQueue(100, 1<<20, func() {}), ctx: context.Background(),
		claims: map[string]any{"sub": ""}, subs: map[string]*subscription{}}
	since := "2"
	if rep := c.subscribe(&request{ID: json.RawMessage("1"), Op: "subscribe", Topic: "t.x", Epoch: "e1", Since: &since}); rep != nil {
		t.Fatalf("subscribe failed: %+v", rep.err)
	}
	h.Publication(topics.pubs[4]) // 5 again: a duplicate
	h.Publication(topics.add(6, 6)[0])

	frames, _, _, _ := c.out.take()
	var got []string
	for _, f := range frames {
		got = append(got, string(framePayload(t, f)))
	}
	want := []string{
		`{"id":1,"ok":true,"epoch":"e1","offset":"4","recovered":true,"publications":[{"offset":"3","data":3},{"offset":"4","data":4}]}`,
		`{"topic":"t.x","offset":"5","data":5}`,
		`{"topic":"t.x","offset":"6","data":6}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("frames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
