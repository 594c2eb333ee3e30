package amqp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

// TestOutage cuts the network between the backend and the broker: in-flight deliveries
// cannot be acknowledged and come back, Receive waits instead of failing, Ping fails,
// a publish either fails within its ctx or succeeds after the reconnect, and everything
// resumes when the network does.
func TestOutage(t *testing.T) {
	p, url := startProxy(t)
	// No forwarder: cut off, it would hold the delayed messages of every other process.
	q := dialTest(t, Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, noForwarder: true}, url)
	name := uniqueName(t)
	src, err := q.ConsumeQueue(testkit.Context(t, 10*time.Second), triggers.QueueOptions{Queue: name})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := q.PublishQueue(testkit.Context(t, 10*time.Second), name, &triggers.Message{ID: "in-flight"}); err != nil {
		t.Fatal(err)
	}
	held := mustReceive(t, src, 1)[0]

	p.setCut(true)
	testkit.Eventually(t, 10*time.Second, "the backend to notice the outage", func() bool {
		return q.Ping(context.Background()) != nil && held.Token.(*token).ch.IsClosed()
	})
	t.Logf("ping while down: %v", q.Ping(context.Background()))
	if err := src.Ack(testkit.Context(t, time.Second), held); err == nil {
		t.Fatal("ack of a delivery whose channel died succeeded")
	} else {
		t.Logf("ack while down: %v", err)
	}

	// Receive waits through the outage: only its own ctx ends it.
	rctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = src.Receive(rctx, 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("receive during the outage: %v, want to keep waiting", err)
	}

	// A publish with a short ctx fails in time, it does not hang.
	start := time.Now()
	err = q.PublishQueue(testkit.Context(t, 300*time.Millisecond), name, &triggers.Message{ID: "too-early"})
	if err == nil {
		t.Fatal("publish while the broker is unreachable succeeded")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("publish took %s past its 300ms ctx", el)
	}
	t.Logf("publish while down: %v", err)

	// A publish with a longer ctx succeeds once the network is back.
	published := make(chan error, 1)
	go func() {
		published <- q.PublishQueue(testkit.Context(t, 20*time.Second), name, &triggers.Message{ID: "after"})
	}()
	time.Sleep(100 * time.Millisecond) // let it start waiting; the checks below do not depend on it
	p.setCut(false)
	if err := <-published; err != nil {
		t.Fatalf("publish across the outage: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "ping to succeed again", func() bool { return q.Ping(context.Background()) == nil })

	got := map[string]int{}
	ctx := testkit.Context(t, 20*time.Second)
	for len(got) < 2 {
		ds, err := src.Receive(ctx, 2)
		if err != nil {
			t.Fatalf("receive after the outage (got %v): %v", got, err)
		}
		for _, d := range ds {
			got[d.ID] = d.Attempt
		}
		if err := src.Ack(ctx, ds...); err != nil {
			t.Fatal(err)
		}
	}
	if got["in-flight"] < 2 || got["after"] != 1 {
		t.Fatalf("after the outage got attempts %v, want in-flight >= 2 and after = 1", got)
	}
	if _, ok := got["too-early"]; ok {
		t.Log("the publish that timed out reached the broker anyway (allowed: the broker had it)")
	}
}

// TestDialUnreachable checks that Dial reports a broker it cannot reach, and that Close of
// a backend whose broker went away does not hang.
func TestDialUnreachable(t *testing.T) {
	p, url := startProxy(t)
	p.setCut(true)
	if _, err := Dial(url, Options{DialTimeout: time.Second, Logger: testLogger(t)}); err == nil {
		t.Fatal("dial of an unreachable broker succeeded")
	}
	p.setCut(false)
	// No forwarder: cut off, it would hold the delayed messages of every other process.
	q, err := Dial(url, Options{Logger: testLogger(t), MinBackoff: time.Hour, MaxBackoff: time.Hour, noForwarder: true})
	if err != nil {
		t.Fatal(err)
	}
	p.setCut(true)
	testkit.Eventually(t, 10*time.Second, "ping to fail", func() bool { return q.Ping(context.Background()) != nil })
	done := make(chan struct{})
	go func() {
		q.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs while the broker is unreachable")
	}
}
