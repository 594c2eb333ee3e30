package dispatch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

func TestDelayedEffectArrivesAfterItsDelayAndCancelStopsIt(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	eff := &Effects{Queues: b, Streams: b}
	src, err := b.ConsumeQueue(context.Background(), triggers.QueueOptions{Queue: "later"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })

	kept := event.ToQueue("later", "Kept", 1).After(time.Second)
	dropped := event.ToQueue("later", "Dropped", 2).After(time.Second)
	if kept.ID == "" || dropped.ID == "" || kept.ID == dropped.ID {
		t.Fatalf("After gave the IDs %q and %q, want two distinct ones", kept.ID, dropped.ID)
	}
	sent := time.Now()
	if err := eff.Apply(context.Background(), "f", &event.Event{ID: "cause"}, event.Status(202).Emit(kept, dropped)); err != nil {
		t.Fatal(err)
	}
	// A later invocation cancels one of them by the ID the first one saved.
	if err := eff.Apply(context.Background(), "f", &event.Event{ID: "cause2"},
		event.Status(200).Emit(event.CancelDelayed("later", dropped.ID))); err != nil {
		t.Fatal(err)
	}
	ds, err := src.Receive(testkit.Context(t, 10*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if at := time.Since(sent); at < time.Second || len(ds) != 1 || ds[0].ID != kept.ID || ds[0].Type != "Kept" {
		t.Fatalf("got %d deliveries after %v, the first %+v; want only %s after 1s", len(ds), at, ds[0].Message, kept.ID)
	}
	if ds[0].Source != "function/f" || ds[0].CorrelationID != "cause" {
		t.Fatalf("delayed message's source %q and correlation %q, want function/f and cause", ds[0].Source, ds[0].CorrelationID)
	}
	if err := src.Ack(context.Background(), ds...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if ds, _ := src.Receive(ctx, 1); len(ds) > 0 {
		t.Fatalf("the cancelled message %s was delivered", ds[0].ID)
	}
}

func TestInvalidDelaysAreRefusedAndNothingIsEmitted(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	for _, tc := range []struct {
		name  string
		queue triggers.Queues
		msg   event.Message
		want  string
	}{
		{"too long", b, event.ToQueue("q", "T", 1).After(memory.MaxDelay + time.Second), "longer than the queue backend holds"},
		{"delayed stream entry", b, event.Message{Target: "s", Data: []byte("1"), Delay: time.Second}, "is for queue messages"},
		{"cancelled stream entry", b, event.Message{Target: "s", ID: "x", Cancel: true}, "is for queue messages"},
		{"cancel without an ID", b, event.Message{Queue: true, Target: "q", Cancel: true}, "needs the ID"},
		{"backend without delays", &recorder{}, event.ToQueue("q", "T", 1).After(time.Second), "holds no delayed messages"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			rec := &recorder{}
			eff := &Effects{Queues: tc.queue, Streams: rec}
			res := event.Status(200).Emit(event.ToStream("before", "T", 1), tc.msg)
			err := eff.Apply(context.Background(), "f", &event.Event{ID: "c"}, res)
			if !errors.Is(err, runtime.ErrInvalidEffect) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("apply: %v, want an invalid effect saying %q", err, tc.want)
			}
			if len(rec.msgs) > 0 {
				t.Fatalf("published %v before refusing", rec.msgs)
			}
		})
	}
}

func TestAfterOnAStreamMessageFailsTheResult(t *testing.T) {
	res := event.Status(200).Emit(event.ToStream("s", "T", 1).After(time.Second))
	if res.Err() == nil || !strings.Contains(res.Err().Error(), "only queue messages take a delay") {
		t.Fatalf("Err %v, want the stream message's delay refused", res.Err())
	}
	if res := event.Status(200).Emit(event.CancelDelayed("q", "")); res.Err() == nil {
		t.Fatal("a cancellation without an ID built without error")
	}
	if m := event.ToQueue("q", "T", 1).WithID("order-7-timeout").After(time.Minute); m.ID != "order-7-timeout" || m.Delay != time.Minute {
		t.Fatalf("After replaced the ID or lost the delay: %+v", m)
	}
}
