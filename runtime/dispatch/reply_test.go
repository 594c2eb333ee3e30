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

// replies consumes the reply queue name of b, as an RPC caller does.
func replies(t *testing.T, b *memory.Broker, name string) triggers.Source {
	t.Helper()
	src, err := b.ConsumeQueue(context.Background(), triggers.QueueOptions{Queue: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestRepliesCarryTheResultOrTheError(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	f := &fakeFn{do: func(ev *event.Event) (*event.Result, error) {
		switch string(ev.Data) {
		case `"refuse"`:
			return nil, &event.Error{Status: 422, Message: "no such order"}
		case `"crash"`:
			return nil, errors.New("db password is hunter2")
		}
		return event.Text(201, "made"), nil
	}}
	c := run(t, b, ConsumerConfig{Function: "f", EventSource: "queue/in", Retries: 1, Backoff: 10 * time.Millisecond},
		"in", f, &Effects{Queues: b, Streams: b})
	answers := replies(t, b, "answers")
	for _, data := range []string{"ok", "refuse", "crash"} {
		publish(t, b, "in", &triggers.Message{ID: data, CorrelationID: "corr-" + data, ReplyTo: "answers", Data: []byte(`"` + data + `"`)})
	}
	got := map[string]*triggers.Delivery{}
	for len(got) < 3 {
		ds, err := answers.Receive(testkit.Context(t, 10*time.Second), 3)
		if err != nil {
			t.Fatalf("replies so far %v: %v", got, err)
		}
		for _, d := range ds {
			if got[d.CorrelationID] != nil {
				t.Fatalf("a second reply to %s: %q", d.CorrelationID, d.Data)
			}
			got[d.CorrelationID] = d
		}
		if err := answers.Ack(context.Background(), ds...); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []struct {
		corr, status, code, body, contentType string
	}{
		{"corr-ok", "201", "", "made", "text/plain; charset=utf-8"},
		{"corr-refuse", "422", "unprocessable", `{"error":{"code":"unprocessable","message":"no such order"}}`, "application/json"},
		{"corr-crash", "500", "function_error", `{"error":{"code":"function_error","message":"the function failed"}}`, "application/json"},
	} {
		d := got[want.corr]
		if d == nil || d.Headers["status"] != want.status || d.Headers["x-edgefn-error"] != want.code ||
			string(d.Data) != want.body || d.ContentType != want.contentType {
			t.Errorf("reply to %s: %+v, want status %s, code %q, %s body %s", want.corr, d, want.status, want.code, want.contentType, want.body)
		}
	}
	// Each failed request was tried twice, then dead-lettered with one error reply. The
	// counts follow the publishes the replies came from.
	r := &c.Stats.Replies
	testkit.Eventually(t, 10*time.Second, "the dead letters and the replies counted", func() bool {
		return c.Stats.DeadLettered.Load() == 2 && r.Sent.Load()+r.Error.Load() >= 3
	})
	if r.Sent.Load() != 1 || r.Error.Load() != 2 || r.Returned.Load() != 0 || r.Failed.Load() != 0 {
		t.Fatalf("replies sent %d, error %d, returned %d, failed %d; want 1, 2, 0, 0",
			r.Sent.Load(), r.Error.Load(), r.Returned.Load(), r.Failed.Load())
	}
}

// TestReplyToACallerThatLeftIsNoFailure: the function did its work; that nobody waits for
// the answer any more does not make the request fail, retry or end in the dead letters.
func TestReplyToACallerThatLeftIsNoFailure(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	f := &fakeFn{do: func(*event.Event) (*event.Result, error) { return event.Text(200, "late"), nil }}
	c := run(t, b, ConsumerConfig{Function: "f", EventSource: "queue/in", Retries: 3, Backoff: 10 * time.Millisecond},
		"in", f, &Effects{Queues: b, Streams: b})
	publish(t, b, "in", &triggers.Message{ID: "m1", CorrelationID: "c1", ReplyTo: "nobody-listens"})
	testkit.Eventually(t, 10*time.Second, "the request handled", func() bool { return c.Stats.Handled.Load() == 1 })
	if c.Stats.Retried.Load() != 0 || c.Stats.DeadLettered.Load() != 0 || c.Stats.Replies.Returned.Load() != 1 || f.calls.Load() != 1 {
		t.Fatalf("retried %d, dead-lettered %d, returned %d, calls %d; want 0, 0, 1, 1",
			c.Stats.Retried.Load(), c.Stats.DeadLettered.Load(), c.Stats.Replies.Returned.Load(), f.calls.Load())
	}
	if dead, _ := b.ListDead(context.Background(), "in.dlq", 10); len(dead) != 0 {
		t.Fatalf("dead letters %+v", dead)
	}
}

// TestFailedEffectsAnswerEffectsFailed: whoever answers for a failed effect (an HTTP caller,
// an async reply, an RPC error reply) maps Apply's error to 502 effects_failed, not to a
// failure of the function, whose work was done.
func TestFailedEffectsAnswerEffectsFailed(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	eff := &Effects{Queues: b, Streams: failingStreams{b}}
	res := event.Status(200).Emit(event.ToStream("out", "Done", 1))
	err := eff.Apply(context.Background(), "f", &event.Event{ID: "e1"}, res)
	if status, code, _ := runtime.HTTPStatus(err); status != 502 || code != "effects_failed" || !strings.Contains(err.Error(), "stream down") {
		t.Fatalf("Apply: %v, maps to %d %s; want 502 effects_failed, naming the cause", err, status, code)
	}
}
