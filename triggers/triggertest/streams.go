package triggertest

import (
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

// RunStreams runs the stream conformance suite. newStreams returns the backend under test; it
// is called once per subtest and must clean up after itself with t.Cleanup.
func RunStreams(t *testing.T, newStreams func(t *testing.T) triggers.Streams, f Features) {
	if f.RetryGranularity == 0 {
		f.RetryGranularity = 2 * time.Second
	}
	open := OpenStream
	publish := func(t *testing.T, s triggers.Streams, stream string, ms ...*triggers.Message) {
		t.Helper()
		if err := s.PublishStream(testkit.Context(t, 10*time.Second), stream, ms...); err != nil {
			t.Fatalf("publish to %s: %v", stream, err)
		}
	}

	t.Run("PublishConsumeAckFromOldest", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		sent := msgs("m", 5)
		publish(t, s, name, sent...)
		src := open(t, s, triggers.StreamOptions{Stream: name, Group: "g", FromOldest: true})
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
		again := open(t, s, triggers.StreamOptions{Stream: name, Group: "g", Consumer: "c2", ClaimAfter: 200 * time.Millisecond})
		expectNothing(t, again, 700*time.Millisecond)
	})

	t.Run("Lag", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		publish(t, s, name, msgs("m", 5)...)
		src := open(t, s, triggers.StreamOptions{Stream: name, Group: "g", FromOldest: true})
		checkLag(t, src, 5)
		got := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 2)
		checkLag(t, src, 3)
		got = append(got, ReceiveN(t, testkit.Context(t, 10*time.Second), src, 3)...)
		checkLag(t, src, 0)
		if err := src.Ack(testkit.Context(t, 5*time.Second), got...); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("NewGroupStartsAtTheEnd", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		publish(t, s, name, msgs("old", 2)...)
		src := open(t, s, triggers.StreamOptions{Stream: name, Group: "g"})
		publish(t, s, name, msgs("new", 1)...)
		d := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)[0]
		if d.ID != "new-0" {
			t.Fatalf("a new group got %s, want only what came after it", d.ID)
		}
	})

	t.Run("OrderWithinStream", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		src := open(t, s, triggers.StreamOptions{Stream: name, Group: "g"})
		sent := msgs("m", 300)
		publish(t, s, name, sent...)
		got := ReceiveN(t, testkit.Context(t, 20*time.Second), src, len(sent))
		for i := range sent {
			if got[i].ID != sent[i].ID {
				t.Fatalf("delivery %d is %s, want %s", i, got[i].ID, sent[i].ID)
			}
		}
	})

	t.Run("TwoGroupsEachGetEverything", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		a := open(t, s, triggers.StreamOptions{Stream: name, Group: "ga"})
		b := open(t, s, triggers.StreamOptions{Stream: name, Group: "gb"})
		publish(t, s, name, msgs("m", 20)...)
		for _, src := range []triggers.Source{a, b} {
			got := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 20)
			if len(got) != 20 || got[19].ID != "m-19" {
				t.Fatalf("a group got %v", ids(got))
			}
		}
	})

	t.Run("ConsumersInAGroupShareWork", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		a := open(t, s, triggers.StreamOptions{Stream: name, Group: "g", Consumer: "a"})
		b := open(t, s, triggers.StreamOptions{Stream: name, Group: "g", Consumer: "b"})
		const n = 200
		publish(t, s, name, msgs("m", n)...)
		shareWork(t, n, a, b)
	})

	t.Run("RetryRedeliversLaterWithoutBlocking", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		src := open(t, s, triggers.StreamOptions{Stream: name, Group: "g"})
		checkRetry(t, src, func(ms ...*triggers.Message) { publish(t, s, name, ms...) }, f.RetryGranularity)
	})

	t.Run("PendingOfADeadConsumerIsClaimed", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		dead := open(t, s, triggers.StreamOptions{Stream: name, Group: "g", Consumer: "dead"})
		publish(t, s, name, msgs("m", 3)...)
		held := ReceiveN(t, testkit.Context(t, 10*time.Second), dead, 3)
		dead.Close() // it never settles what it held, like a crashed node
		alive := open(t, s, triggers.StreamOptions{Stream: name, Group: "g", Consumer: "alive", ClaimAfter: 500 * time.Millisecond})
		got := ReceiveN(t, testkit.Context(t, 15*time.Second), alive, 3)
		if a, b := sortedIDs(held), sortedIDs(got); !equal(a, b) {
			t.Fatalf("claimed %v, want %v", b, a)
		}
		for _, d := range got {
			if d.Attempt < 2 {
				t.Fatalf("claimed %s with attempt %d, want >= 2", d.ID, d.Attempt)
			}
		}
		mustAck(t, alive, got...)
	})

	t.Run("DeadLetter", func(t *testing.T) {
		s := newStreams(t)
		name := unique(t, "s")
		dls := name + ".dlq"
		src := open(t, s, triggers.StreamOptions{Stream: name, Group: "g", DeadLetter: dls})
		publish(t, s, name, msgs("m", 1)...)
		d := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)[0]
		if err := src.DeadLetter(testkit.Context(t, 5*time.Second), d, "boom: it failed"); err != nil {
			t.Fatal(err)
		}
		expectNothing(t, src, 500*time.Millisecond)
		checkDeadLetters(t, s, dls, name, d.ID, func() triggers.Source { return src })
	})

	t.Run("CloseWhileReceiving", func(t *testing.T) {
		s := newStreams(t)
		closeWhileReceiving(t, open(t, s, triggers.StreamOptions{Stream: unique(t, "s"), Group: "g"}))
	})

	t.Run("ContextCancel", func(t *testing.T) {
		s := newStreams(t)
		cancelWhileReceiving(t, open(t, s, triggers.StreamOptions{Stream: unique(t, "s"), Group: "g"}))
	})

	t.Run("RecoversAfterBrokerRestart", func(t *testing.T) {
		if f.Restart == nil {
			t.Skipf("%s declares no broker to restart", f.Name)
		}
		s := newStreams(t)
		name := unique(t, "s")
		src := open(t, s, triggers.StreamOptions{Stream: name, Group: "g"})
		publish(t, s, name, msgs("before", 1)...)
		mustAck(t, src, ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)...)
		f.Restart(t)
		publish(t, s, name, msgs("after", 1)...)
		d := ReceiveN(t, testkit.Context(t, 30*time.Second), src, 1)[0]
		if d.ID != "after-0" {
			t.Fatalf("after the restart got %s", d.ID)
		}
	})
}

// OpenStream consumes a stream with opts (consumer "c1" when it names none) and closes the
// source when t ends.
func OpenStream(t testing.TB, s triggers.Streams, opts triggers.StreamOptions) triggers.Source {
	t.Helper()
	if opts.Consumer == "" {
		opts.Consumer = "c1"
	}
	src, err := s.ConsumeStream(testkit.Context(t, 10*time.Second), opts)
	if err != nil {
		t.Fatalf("consume %s/%s: %v", opts.Stream, opts.Group, err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}
