package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/filter"
	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

// fakeFn is a function whose behaviour the test sets.
type fakeFn struct {
	name  string
	m     *manifest.Function
	calls atomic.Int64
	mu    sync.Mutex
	seen  []*event.Event
	do    func(ev *event.Event) (*event.Result, error)
}

func (f *fakeFn) Name() string                 { return f.name }
func (f *fakeFn) Manifest() *manifest.Function { return f.m }
func (f *fakeFn) Invoke(_ context.Context, ev *event.Event) (*event.Result, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.seen = append(f.seen, ev)
	f.mu.Unlock()
	return f.do(ev)
}

func (f *fakeFn) events() []*event.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*event.Event(nil), f.seen...)
}

// run starts a consumer of queue q on broker b for f and stops it at the end of the test.
func run(t *testing.T, b *memory.Broker, cfg ConsumerConfig, q string, f Invoker, eff *Effects) *Consumer {
	t.Helper()
	src, err := b.ConsumeQueue(context.Background(), triggers.QueueOptions{Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	c := NewConsumer(cfg, src, f, eff)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func publish(t *testing.T, b *memory.Broker, q string, ms ...*triggers.Message) {
	t.Helper()
	if err := b.PublishQueue(context.Background(), q, ms...); err != nil {
		t.Fatal(err)
	}
}

func TestEffectsGoOutBeforeTheAck(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	out, err := b.ConsumeStream(context.Background(), triggers.StreamOptions{Stream: "out", Group: "g", Consumer: "c", FromOldest: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFn{do: func(ev *event.Event) (*event.Result, error) {
		return event.Status(200).Emit(event.ToStream("out", "Done", map[string]string{"from": ev.ID})), nil
	}}
	c := run(t, b, ConsumerConfig{Function: "f", EventSource: "queue/in"}, "in", f, &Effects{Queues: b, Streams: b})
	publish(t, b, "in", &triggers.Message{ID: "m1", CorrelationID: "corr-1", Data: []byte(`{}`)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := out.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := ds[0]; d.ID != "m1/f/0" || d.Type != "Done" || d.CorrelationID != "corr-1" || d.Source != "function/f" {
		t.Fatalf("emitted %+v", d.Message)
	}
	testkit.Eventually(t, 10*time.Second, "the ack", func() bool { return c.Stats.Handled.Load() == 1 })
	if ev := f.events()[0]; ev.Source != "queue/in" || ev.ID != "m1" || ev.Attempt != 1 {
		t.Fatalf("the function saw %+v", ev)
	}
}

// failingStreams refuses every publish, to fail effects.
type failingStreams struct{ triggers.Streams }

func (failingStreams) PublishStream(context.Context, string, ...*triggers.Message) error {
	return errors.New("stream down")
}

func TestFailedEffectsRetryTheDelivery(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	f := &fakeFn{do: func(*event.Event) (*event.Result, error) {
		return event.Status(200).Emit(event.ToStream("out", "Done", 1)), nil
	}}
	run(t, b, ConsumerConfig{Function: "f", EventSource: "queue/in", Retries: 1, Backoff: 10 * time.Millisecond},
		"in", f, &Effects{Queues: b, Streams: failingStreams{b}})
	publish(t, b, "in", &triggers.Message{ID: "m1", Data: []byte(`{}`)})
	testkit.Eventually(t, 10*time.Second, "the dead letter", func() bool {
		dead, _ := b.ListDead(context.Background(), "in.dlq", 10)
		return len(dead) == 1
	})
	dead, _ := b.ListDead(context.Background(), "in.dlq", 10)
	if dead[0].Attempts != 2 || !strings.Contains(dead[0].Error, "stream down") {
		t.Fatalf("dead letter %+v", dead[0])
	}
	if f.calls.Load() != 2 {
		t.Fatalf("%d invocations, want 2 (the first and one retry)", f.calls.Load())
	}
}

func TestRetriesWithBackoffThenDeadLetter(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	f := &fakeFn{do: func(*event.Event) (*event.Result, error) { return nil, errors.New("db down") }}
	c := run(t, b, ConsumerConfig{Function: "f", EventSource: "queue/in", Retries: 2, Backoff: 50 * time.Millisecond},
		"in", f, &Effects{Queues: b, Streams: b})
	publish(t, b, "in", &triggers.Message{ID: "m1", Data: []byte(`{}`)})
	testkit.Eventually(t, 10*time.Second, "the dead letter", func() bool { return c.Stats.DeadLettered.Load() == 1 })
	evs := f.events()
	if len(evs) != 3 || evs[0].Attempt != 1 || evs[1].Attempt != 2 || evs[2].Attempt != 3 {
		t.Fatalf("attempts %d", len(evs))
	}
	dead, _ := b.ListDead(context.Background(), "in.dlq", 10)
	if len(dead) != 1 || dead[0].ID != "m1" || dead[0].Error != "db down" || dead[0].Attempts != 3 {
		t.Fatalf("dead letters %+v", dead)
	}
	if c.Stats.Retried.Load() != 2 {
		t.Fatalf("retried %d, want 2", c.Stats.Retried.Load())
	}
}

func TestFilterSkipsAndAcks(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	keep, err := filter.Compile(`event.type == "keep" && event.data.n > 1`)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFn{do: func(*event.Event) (*event.Result, error) { return nil, nil }}
	c := run(t, b, ConsumerConfig{Function: "f", EventSource: "queue/in", Filter: keep}, "in", f, &Effects{Queues: b, Streams: b})
	publish(t, b, "in",
		&triggers.Message{ID: "a", Type: "drop", Data: []byte(`{"n":5}`)},
		&triggers.Message{ID: "b", Type: "keep", Data: []byte(`{"n":1}`)},
		&triggers.Message{ID: "c", Type: "keep", Data: []byte(`{"n":2}`)},
		&triggers.Message{ID: "d", Type: "keep", Data: []byte(`not json`)})
	testkit.Eventually(t, 10*time.Second, "all four settled", func() bool { return c.Stats.Skipped.Load()+c.Stats.Handled.Load() == 4 })
	if evs := f.events(); len(evs) != 1 || evs[0].ID != "c" {
		t.Fatalf("invoked for %d events, want only c", len(evs))
	}
	if c.Stats.FilterErrors.Load() != 1 {
		t.Fatalf("filter errors %d, want 1 (data that is not JSON compared with a number)", c.Stats.FilterErrors.Load())
	}
}

func TestBackoffDoublesWithJitterAndCaps(t *testing.T) {
	for attempt, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second} {
		for range 50 {
			d := Backoff(time.Second, attempt)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("Backoff(1s, %d) = %s, want within 20%% of %s", attempt, d, base)
			}
		}
	}
	if d := Backoff(time.Minute, 40); d > MaxBackoff*12/10 {
		t.Fatalf("Backoff is not capped: %s", d)
	}
}

func TestManagerFollowsTheDeployedFunctions(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	set, err := manifest.Parse("m.yaml", []byte("name: w\nhandler: /bin/true\ntriggers:\n  - queue: {name: jobs}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFn{name: "w", m: set.Functions[0], do: func(*event.Event) (*event.Result, error) { return nil, nil }}
	m := NewManager(ManagerConfig{Queues: b, Streams: b, Effects: &Effects{Queues: b, Streams: b}})
	ctx, cancel := context.WithCancel(context.Background())
	go m.Run(ctx)
	t.Cleanup(func() { cancel(); m.Wait() })

	m.Update([]Function{f})
	publish(t, b, "jobs", &triggers.Message{ID: "j1", Data: []byte(`{}`)})
	testkit.Eventually(t, 10*time.Second, "the job to be handled", func() bool { return f.calls.Load() == 1 })
	if st := m.Stats(); len(st) != 1 || st[0].Trigger != "w: queue jobs" {
		t.Fatalf("stats %+v", st)
	}

	m.Update(nil) // the function is deleted: its consumer stops
	testkit.Eventually(t, 10*time.Second, "the consumer to stop", func() bool { return len(m.Stats()) == 0 })
	publish(t, b, "jobs", &triggers.Message{ID: "j2", Data: []byte(`{}`)})
	m.Update([]Function{f}) // and deployed again: the waiting job is handled
	testkit.Eventually(t, 10*time.Second, "the second job", func() bool { return f.calls.Load() == 2 })
}

// refusingQueues cannot open consumers, like a broker that is down.
type refusingQueues struct{ triggers.Queues }

func (refusingQueues) ConsumeQueue(context.Context, triggers.QueueOptions) (triggers.Source, error) {
	return nil, errors.New("connection refused")
}

func TestManagerReportsTriggersThatCannotStart(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	set, _ := manifest.Parse("m.yaml", []byte("name: w\nhandler: /bin/true\ntriggers:\n  - queue: {name: jobs}\n"))
	f := &fakeFn{name: "w", m: set.Functions[0], do: func(*event.Event) (*event.Result, error) { return nil, nil }}
	m := NewManager(ManagerConfig{Queues: refusingQueues{b}, Streams: b, Effects: &Effects{Queues: b, Streams: b}})
	ctx, cancel := context.WithCancel(context.Background())
	go m.Run(ctx)
	t.Cleanup(func() { cancel(); m.Wait() })
	m.Update([]Function{f})
	testkit.Eventually(t, 10*time.Second, "the trigger to be reported", func() bool {
		nr := m.NotReady()
		return len(nr) == 1 && strings.Contains(nr[0], "w: queue jobs: connection refused")
	})
}

// countingQueues counts the messages published to it.
type countingQueues struct {
	triggers.Queues
	n atomic.Int64
}

func (q *countingQueues) PublishQueue(_ context.Context, _ string, ms ...*triggers.Message) error {
	q.n.Add(int64(len(ms)))
	return nil
}

// checkingNotifier records notifications and refuses, before anything is published, those to
// topics under refused.
type checkingNotifier struct {
	mu   sync.Mutex
	sent []string
}

func (n *checkingNotifier) Notify(_ context.Context, topic string, _ []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, topic)
	return nil
}

func (n *checkingNotifier) CheckNotification(topic string, _ []byte) error {
	if strings.HasPrefix(topic, "refused.") {
		return errors.New("reserved topic")
	}
	return nil
}

// A result with a notification the Notifier refuses for what it is carries out none of its
// effects, and says so with runtime.ErrInvalidEffect.
func TestInvalidNotificationCarriesOutNothing(t *testing.T) {
	q := &countingQueues{}
	n := &checkingNotifier{}
	eff := &Effects{Queues: q, Notifier: n}
	res := event.Status(200).Emit(event.ToQueue("out", "Done", 1)).Notify("ok.topic", 1).Notify("refused."+strings.Repeat("x", 1000), 2)
	err := eff.Apply(context.Background(), "f", &event.Event{ID: "e1"}, res)
	if !errors.Is(err, runtime.ErrInvalidEffect) || !strings.Contains(err.Error(), "reserved topic") || len(err.Error()) > 200 {
		t.Fatalf("Apply: %v, want ErrInvalidEffect naming the reason, briefly", err)
	}
	if len(n.sent) != 0 || q.n.Load() != 0 {
		t.Fatalf("notified %v and emitted %d before the refusal", n.sent, q.n.Load())
	}
	// Without the refused notification, everything goes out.
	if err := eff.Apply(context.Background(), "f", &event.Event{ID: "e2"}, event.Status(200).Notify("ok.topic", 1)); err != nil || len(n.sent) != 1 {
		t.Fatalf("Apply: %v, notified %v", err, n.sent)
	}
}
