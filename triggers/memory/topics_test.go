package memory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
	"github.com/edgefn/edgefn/triggers/triggertest"
)

func newTopics(t testing.TB, opts triggers.HistoryOptions) *memory.Topics {
	tp := memory.NewTopics(opts)
	t.Cleanup(func() { tp.Close() })
	return tp
}

func TestTopicsConformance(t *testing.T) {
	var mu sync.Mutex
	made := map[*testing.T]*memory.Topics{} // one process: every "node" of a test is one value
	triggertest.RunTopics(t, func(t *testing.T, opts triggers.HistoryOptions) triggers.Topics {
		mu.Lock()
		defer mu.Unlock()
		if tp := made[t]; tp != nil {
			return tp
		}
		tp := newTopics(t, opts)
		made[t] = tp
		return tp
	}, triggertest.TopicFeatures{Name: "memory"})
}

// A topic nobody uses for longer than the TTL is forgotten: its next use starts a new epoch.
func TestTopicsForgetIdleTopics(t *testing.T) {
	tp := newTopics(t, triggers.HistoryOptions{TTL: 50 * time.Millisecond})
	ctx := testkit.Context(t, 5*time.Second)
	old, err := tp.PublishTopic(ctx, "idle", []byte(`1`))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "a new epoch for the idle topic", func() bool {
		// Looking at the topic counts as a read: let it outlive its TTL before each look.
		time.Sleep(60 * time.Millisecond)
		top, _, _, err := tp.TopicHistory(ctx, "idle", nil)
		return err == nil && top.Epoch != old.Epoch && top.Offset == 0
	})
}

func TestTopicsClosed(t *testing.T) {
	tp := memory.NewTopics(triggers.HistoryOptions{})
	ctx := testkit.Context(t, 5*time.Second)
	r := &countListener{}
	if err := tp.ListenTopics(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := tp.PublishTopic(ctx, "t", nil); !errors.Is(err, memory.ErrTopicsClosed) {
		t.Errorf("publish after Close: %v", err)
	}
	if _, _, _, err := tp.TopicHistory(ctx, "t", nil); !errors.Is(err, memory.ErrTopicsClosed) {
		t.Errorf("history after Close: %v", err)
	}
	if err := tp.ListenTopics(ctx, r); !errors.Is(err, memory.ErrTopicsClosed) {
		t.Errorf("listen after Close: %v", err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := memory.NewTopics(triggers.HistoryOptions{}).ListenTopics(canceled, r); !errors.Is(err, context.Canceled) {
		t.Errorf("listen with a canceled context: %v", err)
	}
	if r.n != 0 {
		t.Errorf("listener got %d publications", r.n)
	}
}

// A listener may read history from within Publication, even while other publishers of the
// same topic wait their turn: delivery holds no lock that history needs.
func TestTopicsListenerMayReadHistory(t *testing.T) {
	tp := newTopics(t, triggers.HistoryOptions{Size: 1000})
	ctx := testkit.Context(t, 10*time.Second)
	r := &historyListener{tp: tp}
	if err := tp.ListenTopics(ctx, r); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 50 {
					if _, err := tp.PublishTopic(ctx, "t", []byte(`1`)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("publishers and a listener reading history deadlocked")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n != 200 || r.last.Offset < 200 {
		t.Fatalf("listener got %d publications, last history read at %+v", r.n, r.last)
	}
}

type countListener struct{ n int }

func (c *countListener) Publication(*triggers.Publication) { c.n++ }
func (c *countListener) Resync()                           {}

type historyListener struct {
	tp   triggers.Topics
	mu   sync.Mutex
	n    int
	last triggers.Position
}

func (h *historyListener) Publication(p *triggers.Publication) {
	top, _, _, _ := h.tp.TopicHistory(context.Background(), p.Topic, nil)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	h.last = top
}
func (h *historyListener) Resync() {}
