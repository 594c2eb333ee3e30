package triggertest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

// RunQueues runs the queue conformance suite. newQueues returns the backend under test; it is
// called once per subtest and must clean up after itself with t.Cleanup.
func RunQueues(t *testing.T, newQueues func(t *testing.T) triggers.Queues, f Features) {
	if f.RetryGranularity == 0 {
		f.RetryGranularity = 2 * time.Second
	}
	open := func(t *testing.T, q triggers.Queues, opts triggers.QueueOptions) triggers.Source {
		t.Helper()
		src, err := q.ConsumeQueue(testkit.Context(t, 10*time.Second), opts)
		if err != nil {
			t.Fatalf("consume %s: %v", opts.Queue, err)
		}
		t.Cleanup(func() { src.Close() })
		return src
	}
	publish := func(t *testing.T, q triggers.Queues, queue string, ms ...*triggers.Message) {
		t.Helper()
		if err := q.PublishQueue(testkit.Context(t, 10*time.Second), queue, ms...); err != nil {
			t.Fatalf("publish to %s: %v", queue, err)
		}
	}

	t.Run("PublishConsumeAck", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "q")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		sent := msgs("m", 5)
		publish(t, q, name, sent...)
		got := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 5)
		for i, d := range got {
			checkMessage(t, d, sent[i])
			if d.Attempt != 1 {
				t.Fatalf("first delivery of %s has attempt %d", d.ID, d.Attempt)
			}
		}
		if err := src.Ack(testkit.Context(t, 5*time.Second), got...); err != nil {
			t.Fatal(err)
		}
		src.Close()
		again := open(t, q, triggers.QueueOptions{Queue: name})
		expectNothing(t, again, 500*time.Millisecond)
	})

	t.Run("ReplyReachesAnExistingQueue", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "replies")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		sent := &triggers.Message{ID: "r1", CorrelationID: "corr-1", ContentType: "text/plain",
			Data: []byte("pong"), Headers: map[string]string{"status": "200"}}
		if err := q.PublishReply(testkit.Context(t, 10*time.Second), name, sent); err != nil {
			t.Fatalf("reply to %s: %v", name, err)
		}
		got := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)
		checkMessage(t, got[0], sent)
		if got[0].Headers["status"] != "200" {
			t.Fatalf("reply headers %v, want status 200", got[0].Headers)
		}
		mustAck(t, src, got...)
	})

	t.Run("ReplyToAMissingQueueIsReturned", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "gone")
		for range 2 { // the first reply did not make the queue
			err := q.PublishReply(testkit.Context(t, 10*time.Second), name, &triggers.Message{Data: []byte("x")})
			if !errors.Is(err, triggers.ErrNoReplyQueue) {
				t.Fatalf("reply to the missing queue %s: %v, want ErrNoReplyQueue", name, err)
			}
		}
	})

	t.Run("Lag", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "q")
		src := open(t, q, triggers.QueueOptions{Queue: name, Prefetch: 2})
		publish(t, q, name, msgs("m", 5)...)
		got := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 2)
		checkLag(t, src, 3)
		if err := src.Ack(testkit.Context(t, 5*time.Second), got...); err != nil {
			t.Fatal(err)
		}
		got = ReceiveN(t, testkit.Context(t, 10*time.Second), src, 2)
		if err := src.Ack(testkit.Context(t, 5*time.Second), got...); err != nil {
			t.Fatal(err)
		}
		got = ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)
		checkLag(t, src, 0)
		if err := src.Ack(testkit.Context(t, 5*time.Second), got...); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("UnackedAreRedeliveredAfterClose", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "q")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		publish(t, q, name, msgs("m", 3)...)
		first := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 3)
		src.Close()
		next := open(t, q, triggers.QueueOptions{Queue: name})
		again := ReceiveN(t, testkit.Context(t, 10*time.Second), next, 3)
		if a, b := sortedIDs(first), sortedIDs(again); !equal(a, b) {
			t.Fatalf("redelivered %v, want %v", b, a)
		}
		for _, d := range again {
			if d.Attempt < 2 {
				t.Fatalf("redelivery of %s has attempt %d, want >= 2", d.ID, d.Attempt)
			}
		}
	})

	t.Run("AcksInAnyOrderSettleOnlyThose", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "q")
		src := open(t, q, triggers.QueueOptions{Queue: name, Prefetch: 8})
		publish(t, q, name, msgs("m", 7)...)
		got := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 7)
		byID := map[string]*triggers.Delivery{}
		for _, d := range got {
			byID[d.ID] = d
		}
		ack := func(ids ...string) {
			t.Helper()
			var ds []*triggers.Delivery
			for _, id := range ids {
				ds = append(ds, byID[id])
			}
			if err := src.Ack(testkit.Context(t, 5*time.Second), ds...); err != nil {
				t.Fatalf("ack %v: %v", ids, err)
			}
		}
		// Out of order, in batches and alone, with gaps: m-4 is retried, m-6 never settled.
		ack("m-1", "m-3")
		ack("m-0")
		if err := src.Retry(testkit.Context(t, 10*time.Second), byID["m-4"], 0); err != nil {
			t.Fatal(err)
		}
		ack("m-5", "m-2")
		src.Close()
		next := open(t, q, triggers.QueueOptions{Queue: name})
		again := ReceiveN(t, testkit.Context(t, 10*time.Second), next, 2)
		if ids := sortedIDs(again); !equal(ids, []string{"m-4", "m-6"}) {
			t.Fatalf("after acks in any order, redelivered %v, want [m-4 m-6]", ids)
		}
		expectNothing(t, next, 500*time.Millisecond)
	})

	t.Run("AckDoesNotWaitForEarlierDeliveries", func(t *testing.T) {
		// With a prefetch of 2 the third message comes only once one of the first two is
		// acknowledged: acking the second while the first is still held must free its slot.
		q := newQueues(t)
		name := unique(t, "q")
		src := open(t, q, triggers.QueueOptions{Queue: name, Prefetch: 2})
		publish(t, q, name, msgs("m", 3)...)
		got := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 2)
		sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
		if err := src.Ack(testkit.Context(t, 5*time.Second), got[1]); err != nil {
			t.Fatal(err)
		}
		third := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)
		if third[0].ID != "m-2" {
			t.Fatalf("got %s, want m-2", third[0].ID)
		}
		if err := src.Ack(testkit.Context(t, 5*time.Second), got[0], third[0]); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RetryRedeliversLaterWithoutBlocking", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "q")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		checkRetry(t, src, func(ms ...*triggers.Message) { publish(t, q, name, ms...) }, f.RetryGranularity)
	})

	t.Run("DeadLetter", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "q")
		dlq := name + ".dlq"
		src := open(t, q, triggers.QueueOptions{Queue: name, DeadLetter: dlq})
		publish(t, q, name, msgs("m", 1)...)
		d := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)[0]
		if err := src.DeadLetter(testkit.Context(t, 5*time.Second), d, "boom: it failed"); err != nil {
			t.Fatal(err)
		}
		expectNothing(t, src, 500*time.Millisecond)
		checkDeadLetters(t, q, dlq, name, d.ID, func() triggers.Source { return src })
	})

	t.Run("PrefetchBoundsUnacked", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "q")
		src := open(t, q, triggers.QueueOptions{Queue: name, Prefetch: 2})
		publish(t, q, name, msgs("m", 5)...)
		held := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 2)
		expectNothing(t, src, 500*time.Millisecond)
		mustAck(t, src, held[0])
		more := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)
		if more[0].ID != "m-2" {
			t.Fatalf("after one ack got %s, want m-2", more[0].ID)
		}
	})

	t.Run("ConsumersShareWork", func(t *testing.T) {
		q := newQueues(t)
		name := unique(t, "q")
		a := open(t, q, triggers.QueueOptions{Queue: name, Prefetch: 4})
		b := open(t, q, triggers.QueueOptions{Queue: name, Prefetch: 4})
		const n = 200
		publish(t, q, name, msgs("m", n)...)
		shareWork(t, n, a, b)
	})

	t.Run("Priority", func(t *testing.T) {
		if f.NoPriority {
			t.Skipf("%s declares that it does not promise priorities", f.Name)
		}
		q := newQueues(t)
		name := unique(t, "q")
		// Declare the queue, then publish before consuming so the broker can order them.
		src := open(t, q, triggers.QueueOptions{Queue: name, MaxPriority: 10, Prefetch: 1})
		src.Close()
		low := msgs("low", 3)
		high := &triggers.Message{ID: "high", Data: []byte("{}"), Priority: 9}
		publish(t, q, name, append(low, high)...)
		src = open(t, q, triggers.QueueOptions{Queue: name, MaxPriority: 10, Prefetch: 1})
		d := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)[0]
		if d.ID != "high" || d.Priority != 9 {
			t.Fatalf("first delivery %s (priority %d), want the high-priority message", d.ID, d.Priority)
		}
	})

	t.Run("CloseWhileReceiving", func(t *testing.T) {
		q := newQueues(t)
		src := open(t, q, triggers.QueueOptions{Queue: unique(t, "q")})
		closeWhileReceiving(t, src)
	})

	t.Run("ContextCancel", func(t *testing.T) {
		q := newQueues(t)
		src := open(t, q, triggers.QueueOptions{Queue: unique(t, "q")})
		cancelWhileReceiving(t, src)
	})

	t.Run("RecoversAfterBrokerRestart", func(t *testing.T) {
		if f.Restart == nil {
			t.Skipf("%s declares no broker to restart", f.Name)
		}
		q := newQueues(t)
		name := unique(t, "q")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		publish(t, q, name, msgs("before", 1)...)
		mustAck(t, src, ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)...)
		f.Restart(t)
		publish(t, q, name, msgs("after", 1)...)
		d := ReceiveN(t, testkit.Context(t, 30*time.Second), src, 1)[0]
		if d.ID != "after-0" {
			t.Fatalf("after the restart got %s", d.ID)
		}
		if err := src.Ack(testkit.Context(t, 10*time.Second), d); err != nil {
			t.Logf("ack after restart: %v (the message will be redelivered: at least once)", err)
		}
	})

	runDelays(t, newQueues, f, open)
}

// shareWork consumes n messages from several consumers at once, acking each, and checks each
// message arrived exactly once.
func shareWork(t *testing.T, n int, srcs ...triggers.Source) {
	t.Helper()
	ctx := testkit.Context(t, 30*time.Second)
	var c collector
	var wg sync.WaitGroup
	per := make([]int, len(srcs))
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.count() < n && ctx.Err() == nil {
				rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				ds, err := src.Receive(rctx, 8)
				cancel()
				if err != nil && rctx.Err() == nil {
					t.Errorf("consumer %d: %v", i, err)
					return
				}
				c.add(ds)
				per[i] += len(ds)
				if len(ds) > 0 {
					if err := src.Ack(ctx, ds...); err != nil {
						t.Errorf("ack: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if c.count() != n {
		t.Fatalf("%d distinct messages consumed, want %d", c.count(), n)
	}
	for id, k := range c.seen {
		if k != 1 {
			t.Fatalf("%s delivered %d times without a failure", id, k)
		}
	}
	t.Logf("deliveries per consumer: %v", per)
}

func closeWhileReceiving(t *testing.T, src triggers.Source) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := src.Receive(context.Background(), 1)
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond) // let Receive block; the check below does not depend on it
	if err := src.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, triggers.ErrClosed) {
			t.Fatalf("receive after close returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive did not return after Close")
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func cancelWhileReceiving(t *testing.T, src triggers.Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := src.Receive(ctx, 1)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("receive after cancel returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive did not return after its context was canceled")
	}
}

// checkDeadLetters checks the dead-letter capability: the message is listed with its reason
// and attempts, re-driven to its origin at attempt 1, and purged.
func checkDeadLetters(t *testing.T, backend any, dlq, origin, id string, src func() triggers.Source) {
	t.Helper()
	dl, ok := backend.(triggers.DeadLetters)
	if !ok {
		t.Fatalf("the backend does not offer dead-letter inspection (triggers.DeadLetters)")
	}
	ctx := testkit.Context(t, 10*time.Second)
	var dead []triggers.DeadMessage
	testkit.Eventually(t, 5*time.Second, "the dead letter to be listed", func() bool {
		var err error
		if dead, err = dl.ListDead(ctx, dlq, 10); err != nil {
			t.Fatal(err)
		}
		return len(dead) > 0
	})
	if len(dead) != 1 || dead[0].ID != id || dead[0].Error != "boom: it failed" || dead[0].Attempts != 1 {
		t.Fatalf("dead letters %+v, want %s with its error and 1 attempt", dead, id)
	}
	n, err := dl.Redrive(ctx, dlq, origin, 10)
	if err != nil || n != 1 {
		t.Fatalf("redrive moved %d: %v", n, err)
	}
	d := ReceiveN(t, ctx, src(), 1)[0]
	if d.ID != id || d.Attempt != 1 {
		t.Fatalf("redriven delivery %s attempt %d, want %s attempt 1", d.ID, d.Attempt, id)
	}
	if err := src().DeadLetter(ctx, d, "boom: it failed"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the dead letter to be listed again", func() bool {
		dead, _ = dl.ListDead(ctx, dlq, 10)
		return len(dead) == 1
	})
	if n, err := dl.Purge(ctx, dlq); err != nil || n != 1 {
		t.Fatalf("purge removed %d: %v", n, err)
	}
	if dead, _ := dl.ListDead(ctx, dlq, 10); len(dead) != 0 {
		t.Fatalf("after purge %d dead letters remain", len(dead))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mustAck acknowledges ds and fails the test when the backend refuses.
func mustAck(t *testing.T, src triggers.Source, ds ...*triggers.Delivery) {
	t.Helper()
	if err := src.Ack(testkit.Context(t, 5*time.Second), ds...); err != nil {
		t.Fatalf("ack: %v", err)
	}
}

// checkRetry checks Retry on src, whose queue or stream publish feeds: the retried message
// comes back no sooner than its delay, with attempt 2 and its fields, and a message published
// after the retry is delivered before it.
func checkRetry(t *testing.T, src triggers.Source, publish func(...*triggers.Message), granularity time.Duration) {
	t.Helper()
	publish(msgs("m", 2)...)
	ds := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 2)
	const delay = 700 * time.Millisecond
	retried := time.Now()
	if err := src.Retry(testkit.Context(t, 5*time.Second), ds[0], delay); err != nil {
		t.Fatal(err)
	}
	mustAck(t, src, ds[1])
	publish(&triggers.Message{ID: "later", Data: []byte("{}")})
	d := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)[0]
	if d.ID != "later" {
		t.Fatalf("got %s first, want the newer message before the retried one", d.ID)
	}
	mustAck(t, src, d)
	back := ReceiveN(t, testkit.Context(t, 10*time.Second+granularity), src, 1)[0]
	if back.ID != ds[0].ID || back.Attempt != 2 {
		t.Fatalf("redelivered %s attempt %d, want %s attempt 2", back.ID, back.Attempt, ds[0].ID)
	}
	if el := time.Since(retried); el < delay {
		t.Fatalf("redelivered after %s, before the %s delay", el, delay)
	}
	checkMessage(t, back, msgs("m", 1)[0])
	mustAck(t, src, back)
}
