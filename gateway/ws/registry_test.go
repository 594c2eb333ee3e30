package ws

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"

	"github.com/edgefn/edgefn/triggers"
)

// historyOnly is a Topics whose history the test writes; it fans out nothing by itself.
type historyOnly struct {
	mu    sync.Mutex
	epoch string
	pubs  []*triggers.Publication // consecutive offsets
}

func (h *historyOnly) PublishTopic(context.Context, string, []byte) (triggers.Position, error) {
	panic("not used")
}

func (h *historyOnly) ListenTopics(context.Context, triggers.TopicListener) error { return nil }

func (h *historyOnly) TopicHistory(_ context.Context, _ string, since *triggers.Position) (triggers.Position, []*triggers.Publication, bool, error) {
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
		if err := json.Unmarshal(f, &p); err != nil {
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

func TestSubscribeBuffersPublicationsUntilItsReply(t *testing.T) {
	topics := &historyOnly{epoch: "e1"}
	h, err := New(Config{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{hub: h, out: newSendQueue(100, 1<<20, func() {}), ctx: context.Background(), subs: map[string]*subscription{}}
	sub := h.registry.add(c, "t.x")
	// Publications that arrive while the subscription is not live wait for it.
	for _, p := range topics.add(1, 2) {
		h.Publication(p)
	}
	if len(sub.pending) != 2 {
		t.Fatalf("%d pending, want 2", len(sub.pending))
	}
	if frames, _, _, _ := c.out.take(); len(frames) != 0 {
		t.Fatalf("%d frames went out before the reply", len(frames))
	}
}
