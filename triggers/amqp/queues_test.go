package amqp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/triggertest"
)

func TestConformance(t *testing.T) {
	needBroker(t)
	var mu sync.Mutex
	backends := map[*testing.T]*Queues{}
	triggertest.RunQueues(t, func(t *testing.T) triggers.Queues {
		q := dialTest(t, Options{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
		mu.Lock()
		backends[t] = q
		mu.Unlock()
		return q
	}, triggertest.Features{
		Name: "rabbitmq",
		Restart: func(t *testing.T) {
			mu.Lock()
			q := backends[t]
			mu.Unlock()
			closeAllConnections(t, q)
		},
	})
}

func TestPriorityOrder(t *testing.T) {
	q := dialTest(t, Options{})
	name := uniqueName(t)
	src, err := q.ConsumeQueue(testkit.Context(t, 10*time.Second), triggers.QueueOptions{Queue: name, MaxPriority: 10, Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	// Published before anyone consumes, so that the broker can order them. Priorities above
	// the queue's maximum count as the maximum.
	prios := map[string]int{"p0": 0, "p3": 3, "p9": 9, "p5": 5, "p1": 1, "p200": 200}
	for _, id := range []string{"p0", "p3", "p9", "p5", "p1", "p200"} {
		if err := q.PublishQueue(testkit.Context(t, 5*time.Second), name, &triggers.Message{ID: id, Priority: prios[id]}); err != nil {
			t.Fatal(err)
		}
	}
	src, err = q.ConsumeQueue(testkit.Context(t, 10*time.Second), triggers.QueueOptions{Queue: name, MaxPriority: 10, Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []string
	for range prios {
		ds, err := src.Receive(testkit.Context(t, 10*time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 {
			t.Fatalf("prefetch 1 handed out %d deliveries", len(ds))
		}
		if ds[0].Priority != min(prios[ds[0].ID], 255) {
			t.Fatalf("%s has priority %d", ds[0].ID, ds[0].Priority)
		}
		got = append(got, ds[0].ID)
		if err := src.Ack(testkit.Context(t, 5*time.Second), ds...); err != nil {
			t.Fatal(err)
		}
	}
	// p200 and p9 are both at the maximum, 10 and 9 → p200 (capped to 10 by the broker) first.
	if want := "p200 p9 p5 p3 p1 p0"; strings.Join(got, " ") != want {
		t.Fatalf("delivered %v, want %s", got, want)
	}
}

func TestRedeclareWithOtherMaxPriorityIsAClearError(t *testing.T) {
	q := dialTest(t, Options{})
	name := uniqueName(t)
	ctx := testkit.Context(t, 20*time.Second)
	src, err := q.ConsumeQueue(ctx, triggers.QueueOptions{Queue: name, MaxPriority: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	other := dialTest(t, Options{}) // another node: it has not seen the queue
	for _, maxPriority := range []int{5, 0} {
		_, err := other.ConsumeQueue(ctx, triggers.QueueOptions{Queue: name, MaxPriority: maxPriority})
		if !errors.Is(err, ErrInequivalent) {
			t.Fatalf("max priority %d: got %v, want ErrInequivalent", maxPriority, err)
		}
		var ae *amqp091.Error
		if !errors.As(err, &ae) || ae.Code != amqp091.PreconditionFailed {
			t.Fatalf("error %v does not carry the broker's PRECONDITION_FAILED", err)
		}
		for _, want := range []string{name, "x-max-priority", "PRECONDITION_FAILED"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not mention %q", err, want)
			}
		}
		t.Logf("max priority %d: %v", maxPriority, err)
	}
	// Both backends carry on: the refused declaration closed one channel, not the connection.
	for _, b := range []*Queues{q, other} {
		if err := b.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.PublishQueue(ctx, name, &triggers.Message{ID: "still-works"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		ds, err := src.Receive(ctx, 1)
		if err != nil || ds[0].ID != "still-works" {
			t.Fatalf("receive after the refused declaration: %v %v", ds, err)
		}
		src.Ack(ctx, ds...)
	}
}

func TestSettleTwiceIsAnError(t *testing.T) {
	q := dialTest(t, Options{})
	name := uniqueName(t)
	ctx := testkit.Context(t, 10*time.Second)
	src, err := q.ConsumeQueue(ctx, triggers.QueueOptions{Queue: name})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := q.PublishQueue(ctx, name, &triggers.Message{ID: "a"}, &triggers.Message{ID: "b"}); err != nil {
		t.Fatal(err)
	}
	ds, err := src.Receive(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Ack(ctx, ds[0]); err != nil {
		t.Fatal(err)
	}
	// A second ack of the same tag would make the broker close the channel, and with it
	// every other unsettled delivery: it must be refused here instead.
	if err := src.Ack(ctx, ds[0]); err == nil {
		t.Fatal("second ack accepted")
	}
	if err := src.Retry(ctx, ds[0], 0); err == nil {
		t.Fatal("retry after ack accepted")
	}
	if len(ds) < 2 {
		ds = append(ds, mustReceive(t, src, 1)...)
	}
	if err := src.Ack(ctx, ds[1]); err != nil {
		t.Fatalf("the other delivery can no longer be acked: %v", err)
	}
}

func TestRetryUsesDelayBucketQueue(t *testing.T) {
	q := dialTest(t, Options{})
	name := uniqueName(t)
	ctx := testkit.Context(t, 20*time.Second)
	src, err := q.ConsumeQueue(ctx, triggers.QueueOptions{Queue: name})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := q.PublishQueue(ctx, name, &triggers.Message{ID: "r", Data: []byte("x"), ReplyTo: "replies", Priority: 3,
		Headers: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	d := mustReceive(t, src, 1)[0]
	start := time.Now()
	if err := src.Retry(ctx, d, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// 300ms rounds up to the 400ms bucket.
	admin := adminChannel(t)
	if _, err := admin.QueueDeclarePassive(name+".retry.400", true, false, false, false, nil); err != nil {
		t.Fatalf("delay queue: %v", err)
	}
	back := mustReceive(t, src, 1)[0]
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("back after %s, before its 400ms bucket", el)
	}
	if back.ID != "r" || back.Attempt != 2 || back.ReplyTo != "replies" || back.Headers["k"] != "v" || string(back.Data) != "x" {
		t.Fatalf("retried copy %+v (attempt %d) lost something", back.Message, back.Attempt)
	}
	// Immediately, at the tail of the queue, one attempt further again.
	if err := src.Retry(ctx, back, 0); err != nil {
		t.Fatal(err)
	}
	again := mustReceive(t, src, 1)[0]
	if again.ID != "r" || again.Attempt != 3 {
		t.Fatalf("second retry: %s attempt %d", again.ID, again.Attempt)
	}
	src.Ack(ctx, again)
}

func mustReceive(t *testing.T, src triggers.Source, n int) []*triggers.Delivery {
	t.Helper()
	ctx := testkit.Context(t, 10*time.Second)
	var out []*triggers.Delivery
	for len(out) < n {
		ds, err := src.Receive(ctx, n-len(out))
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		out = append(out, ds...)
	}
	return out
}

// adminChannel is a channel of a connection of the test's own, for looking behind the
// backend's back.
func adminChannel(t *testing.T) *amqp091.Channel {
	t.Helper()
	conn, err := amqp091.Dial(testURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestDeadLettersOfMissingQueue(t *testing.T) {
	q := dialTest(t, Options{})
	ctx := testkit.Context(t, 10*time.Second)
	name := uniqueName(t) + ".dlq"
	if dead, err := q.ListDead(ctx, name, 10); err != nil || len(dead) != 0 {
		t.Fatalf("list: %v %v", dead, err)
	}
	if n, err := q.Purge(ctx, name); err != nil || n != 0 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if n, err := q.Redrive(ctx, name, uniqueName(t), 10); err != nil || n != 0 {
		t.Fatalf("redrive: %d %v", n, err)
	}
	if err := q.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCloseQueuesClosesSources(t *testing.T) {
	needBroker(t)
	q, err := Dial(testURL(), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName(t)
	t.Cleanup(func() { deleteQueues(t, name, name+".dlq") })
	src, err := q.ConsumeQueue(testkit.Context(t, 10*time.Second), triggers.QueueOptions{Queue: name})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := src.Receive(context.Background(), 1)
		errc <- err
	}()
	q.Close()
	if err := <-errc; !errors.Is(err, triggers.ErrClosed) {
		t.Fatalf("receive after Queues.Close: %v", err)
	}
	if err := q.Ping(context.Background()); err == nil {
		t.Fatal("ping after close succeeded")
	}
	if err := q.PublishQueue(context.Background(), name, &triggers.Message{}); err == nil {
		t.Fatal("publish after close succeeded")
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPublishToQueueDeletedBehindOurBack: the broker returns what it cannot route, and the
// backend declares the queue again rather than report success for a dropped message.
func TestPublishToQueueDeletedBehindOurBack(t *testing.T) {
	q := dialTest(t, Options{})
	name := uniqueName(t)
	ctx := testkit.Context(t, 10*time.Second)
	if err := q.PublishQueue(ctx, name, &triggers.Message{ID: "first"}); err != nil {
		t.Fatal(err)
	}
	admin := adminChannel(t)
	if _, err := admin.QueueDelete(name, false, false, false); err != nil {
		t.Fatal(err)
	}
	if err := q.PublishQueue(ctx, name, &triggers.Message{ID: "second"}, &triggers.Message{ID: "third"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"second", "third"} {
		d, ok, err := admin.Get(name, true)
		if err != nil || !ok || d.MessageId != want {
			t.Fatalf("get: %q %v %v, want %s", d.MessageId, ok, err, want)
		}
	}
}

// TestConsumerSurvivesQueueDeletion: when the queue is deleted under a consumer, the broker
// cancels it; the source declares the queue again and resumes.
func TestConsumerSurvivesQueueDeletion(t *testing.T) {
	q := dialTest(t, Options{MinBackoff: 20 * time.Millisecond})
	name := uniqueName(t)
	ctx := testkit.Context(t, 20*time.Second)
	src, err := q.ConsumeQueue(ctx, triggers.QueueOptions{Queue: name})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := adminChannel(t).QueueDelete(name, false, false, false); err != nil {
		t.Fatal(err)
	}
	if err := q.PublishQueue(ctx, name, &triggers.Message{ID: "after-delete"}); err != nil {
		t.Fatal(err)
	}
	if d := mustReceive(t, src, 1)[0]; d.ID != "after-delete" {
		t.Fatalf("got %s", d.ID)
	}
}
