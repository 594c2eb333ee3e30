package redis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/triggertest"
)

func TestConformance(t *testing.T) {
	testClient(t) // skip the whole suite at once when Redis is away
	triggertest.RunStreams(t, func(t *testing.T) triggers.Streams {
		r, _ := newTestStreams(t, Options{})
		return r
	}, triggertest.Features{Name: "redis", Restart: dropAllConnections})
}

func TestNewValidates(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New accepted a nil client")
	}
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialed
	defer c.Close()
	_, err := New(c, Options{Block: time.Hour, ReclaimEvery: -1})
	if err == nil || !strings.Contains(err.Error(), "block:") || !strings.Contains(err.Error(), "reclaimEvery:") {
		t.Errorf("New with bad options: %v, want both problems", err)
	}
	s, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ConsumeStream(testkit.Context(t, time.Second), triggers.StreamOptions{ClaimAfter: -1})
	for _, want := range []string{"stream: required", "group: required", "consumer: required", "claimAfter:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ConsumeStream with empty options: %v, want %q", err, want)
		}
	}
}

// A producer that knows nothing of edgefn writes entries with plain XADD, in the field names
// many producers use; they are read as the same events.
func TestForeignProducerEntries(t *testing.T) {
	s, c := newTestStreams(t, Options{})
	name := uniqueName(t)
	deleteKeys(t, c, name)
	ctx := testkit.Context(t, 10*time.Second)
	first, err := c.XAdd(ctx, &goredis.XAddArgs{Stream: name, Values: []any{
		"eventId", "evt-1", "eventType", "OrderCreated", "timestamp", "1767225600123",
		"correlationId", "corr-1", "data", `{"amount":42}`, "tenant", "acme",
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.XAdd(ctx, &goredis.XAddArgs{Stream: name, Values: []any{
		"eventType", "OrderShipped", "timestamp", "2026-01-01T00:00:00Z",
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	src := triggertest.OpenStream(t, s, triggers.StreamOptions{Stream: name, Group: "g", FromOldest: true})
	ds := triggertest.ReceiveN(t, ctx, src, 2)

	d := ds[0]
	if d.ID != "evt-1" || d.Type != "OrderCreated" || d.CorrelationID != "corr-1" ||
		string(d.Data) != `{"amount":42}` || d.Headers["tenant"] != "acme" || d.Attempt != 1 {
		t.Errorf("first entry %s read as %+v (attempt %d)", first, d.Message, d.Attempt)
	}
	if want := time.UnixMilli(1767225600123); !d.Time.Equal(want) {
		t.Errorf("first entry time %s, want %s", d.Time, want)
	}
	d = ds[1]
	if d.ID != second || d.Type != "OrderShipped" || len(d.Data) != 0 {
		t.Errorf("second entry %s read as %+v, want its entry ID as ID and empty data", second, d.Message)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); !d.Time.Equal(want) {
		t.Errorf("second entry time %s, want %s", d.Time, want)
	}
	if err := src.Ack(ctx, ds...); err != nil {
		t.Fatal(err)
	}
}

func TestPublishFillsIDAndTime(t *testing.T) {
	s, c := newTestStreams(t, Options{})
	name := uniqueName(t)
	ctx := testkit.Context(t, 10*time.Second)
	m := &triggers.Message{Data: []byte("x"), Headers: map[string]string{"k": "v"}}
	before := time.Now()
	if err := s.PublishStream(ctx, name, m); err != nil {
		t.Fatal(err)
	}
	if len(m.ID) != 32 || m.Time.Before(before.Add(-time.Second)) {
		t.Fatalf("published message has ID %q and time %s", m.ID, m.Time)
	}
	entries, err := c.XRange(ctx, name, "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("xrange: %v %v", entries, err)
	}
	v := entries[0].Values
	if v["id"] != m.ID || v["time"] != m.Time.Format(time.RFC3339Nano) || v["h-k"] != "v" || v["data"] != "x" {
		t.Fatalf("entry fields %v", v)
	}
}

// A retry whose delay is longer than ClaimAfter is not reclaimed by another consumer before
// it is due: the retrying consumer keeps touching it.
func TestLongRetryIsNotReclaimedEarly(t *testing.T) {
	s, _ := newTestStreams(t, Options{})
	name := uniqueName(t)
	opts := triggers.StreamOptions{Stream: name, Group: "g", ClaimAfter: 500 * time.Millisecond}
	opts.Consumer = "a"
	a := triggertest.OpenStream(t, s, opts)
	opts.Consumer = "b"
	b := triggertest.OpenStream(t, s, opts)
	if err := s.PublishStream(testkit.Context(t, 5*time.Second), name, &triggers.Message{ID: "m"}); err != nil {
		t.Fatal(err)
	}
	const delay = 1500 * time.Millisecond
	var first *triggers.Delivery
	var retried time.Time
	for first == nil {
		for _, src := range []triggers.Source{a, b} {
			ds, err := src.Receive(testkit.Context(t, 100*time.Millisecond), 1)
			if len(ds) > 0 {
				first, retried = ds[0], time.Now()
				if err := src.Retry(testkit.Context(t, 5*time.Second), first, delay); err != nil {
					t.Fatal(err)
				}
				break
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
		}
	}

	type got struct {
		d  *triggers.Delivery
		at time.Time
	}
	var mu sync.Mutex
	var all []got
	var wg sync.WaitGroup
	stop := testkit.Context(t, 4*time.Second)
	for _, src := range []triggers.Source{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for stop.Err() == nil {
				ds, _ := src.Receive(stop, 1)
				now := time.Now()
				mu.Lock()
				for _, d := range ds {
					all = append(all, got{d, now})
				}
				mu.Unlock()
				if len(ds) > 0 {
					src.Ack(testkit.Context(t, 5*time.Second), ds...)
				}
			}
		}()
	}
	wg.Wait()
	if len(all) != 1 {
		t.Fatalf("the retried entry was delivered %d times in 4s, want once", len(all))
	}
	if el := all[0].at.Sub(retried); el < delay || all[0].d.Attempt != 2 {
		t.Fatalf("redelivered after %s with attempt %d, want >= %s and attempt 2", el, all[0].d.Attempt, delay)
	}
}

// Close hands retries that are not due yet to the other consumers, who get them when due.
func TestCloseHandsOverRetries(t *testing.T) {
	s, _ := newTestStreams(t, Options{})
	name := uniqueName(t)
	opts := triggers.StreamOptions{Stream: name, Group: "g", ClaimAfter: time.Second, Consumer: "a"}
	a := triggertest.OpenStream(t, s, opts)
	if err := s.PublishStream(testkit.Context(t, 5*time.Second), name, &triggers.Message{ID: "m"}); err != nil {
		t.Fatal(err)
	}
	d := triggertest.ReceiveN(t, testkit.Context(t, 5*time.Second), a, 1)[0]
	const delay = 600 * time.Millisecond
	retried := time.Now()
	if err := a.Retry(testkit.Context(t, 5*time.Second), d, delay); err != nil {
		t.Fatal(err)
	}
	a.Close()
	opts.Consumer = "b"
	b := triggertest.OpenStream(t, s, opts)
	back := triggertest.ReceiveN(t, testkit.Context(t, 5*time.Second), b, 1)[0]
	if el := time.Since(retried); back.ID != "m" || back.Attempt != 2 || el < delay {
		t.Fatalf("b got %s attempt %d after %s, want m attempt 2 after >= %s", back.ID, back.Attempt, el, delay)
	}
}

// A consumer that holds nothing leaves its group on Close; the client stays open.
func TestCloseRemovesIdleConsumer(t *testing.T) {
	s, c := newTestStreams(t, Options{})
	name := uniqueName(t)
	src := triggertest.OpenStream(t, s, triggers.StreamOptions{Stream: name, Group: "g", Consumer: "idle"})
	s.PublishStream(testkit.Context(t, 5*time.Second), name, &triggers.Message{ID: "m"})
	src.Ack(testkit.Context(t, 5*time.Second), triggertest.ReceiveN(t, testkit.Context(t, 5*time.Second), src, 1)...)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	consumers, err := c.XInfoConsumers(testkit.Context(t, 5*time.Second), name, "g").Result()
	if err != nil {
		t.Fatalf("the client does not work after Close: %v", err)
	}
	if len(consumers) != 0 {
		t.Fatalf("consumers after Close: %+v", consumers)
	}
}

// A Receive that is blocked in Redis when every connection drops carries on and delivers
// what comes next.
func TestReceiveSurvivesDroppedConnectionsWhileBlocked(t *testing.T) {
	s, c := newTestStreams(t, Options{})
	name := uniqueName(t)
	src := triggertest.OpenStream(t, s, triggers.StreamOptions{Stream: name, Group: "g"})
	type result struct {
		ds  []*triggers.Delivery
		err error
	}
	done := make(chan result, 1)
	go func() {
		ds, err := src.Receive(testkit.Context(t, 20*time.Second), 1)
		done <- result{ds, err}
	}()
	testkit.Eventually(t, 5*time.Second, "the blocked XREADGROUP", func() bool {
		list, _ := c.ClientList(testkit.Context(t, time.Second)).Result()
		return strings.Contains(list, "cmd=xreadgroup")
	})
	dropAllConnections(t)
	if err := s.PublishStream(testkit.Context(t, 10*time.Second), name, &triggers.Message{ID: "after"}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || len(r.ds) != 1 || r.ds[0].ID != "after" {
			t.Fatalf("receive returned %v, %v", r.ds, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no delivery after the connections dropped")
	}
}

// A stream deleted under a consumer (or lost by Redis) is consumed again from its start.
func TestGroupIsRecreatedWhenTheStreamVanishes(t *testing.T) {
	s, c := newTestStreams(t, Options{})
	name := uniqueName(t)
	src := triggertest.OpenStream(t, s, triggers.StreamOptions{Stream: name, Group: "g"})
	if err := c.Del(testkit.Context(t, 5*time.Second), name).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishStream(testkit.Context(t, 5*time.Second), name, &triggers.Message{ID: "m"}); err != nil {
		t.Fatal(err)
	}
	if d := triggertest.ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)[0]; d.ID != "m" {
		t.Fatalf("got %s", d.ID)
	}
}

// Receive returns failures that waiting does not cure, instead of retrying for ever.
func TestReceiveReturnsRealFailures(t *testing.T) {
	s, c := newTestStreams(t, Options{})
	name := uniqueName(t)
	src := triggertest.OpenStream(t, s, triggers.StreamOptions{Stream: name, Group: "g"})
	ctx := testkit.Context(t, 5*time.Second)
	if err := c.Del(ctx, name).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, name, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := src.Receive(ctx, 1)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("receive from a string key: %v (ctx %v), want a WRONGTYPE error at once", err, ctx.Err())
	}
	if _, err := s.Purge(ctx, name); err == nil {
		t.Fatal("purge deleted a key that is not a stream")
	}
}

// A dead-letter or redrive target that is not a stream fails the move and loses nothing:
// MULTI/EXEC would have run the XACK or XDEL next to the failed XADD.
func TestMovesToANonStreamLoseNothing(t *testing.T) {
	s, c := newTestStreams(t, Options{})
	name := uniqueName(t)
	ctx := testkit.Context(t, 10*time.Second)
	src := triggertest.OpenStream(t, s, triggers.StreamOptions{Stream: name, Group: "g", DeadLetter: name + ".dlq"})
	if err := c.Set(ctx, name+".dlq", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.PublishStream(ctx, name, &triggers.Message{ID: "m"})
	d := triggertest.ReceiveN(t, ctx, src, 1)[0]
	if err := src.DeadLetter(ctx, d, "boom"); err == nil || !strings.Contains(err.Error(), "not a stream") {
		t.Fatalf("dead-letter to a string key: %v", err)
	}
	if p, err := c.XPending(ctx, name, "g").Result(); err != nil || p.Count != 1 {
		t.Fatalf("after the failed dead-letter, pending %+v (%v), want the entry still pending", p, err)
	}

	other := name + ".other"
	if err := c.Set(ctx, other, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	deleteKeys(t, c, other)
	if err := c.Del(ctx, name+".dlq").Err(); err != nil {
		t.Fatal(err)
	}
	if err := src.DeadLetter(ctx, d, "boom"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Redrive(ctx, name+".dlq", other, 10); err == nil || n != 0 {
		t.Fatalf("redrive to a string key moved %d: %v", n, err)
	}
	if dead, err := s.ListDead(ctx, name+".dlq", 10); err != nil || len(dead) != 1 {
		t.Fatalf("after the failed redrive %d dead letters (%v), want 1", len(dead), err)
	}
}
