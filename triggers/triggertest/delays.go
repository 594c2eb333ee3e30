package triggertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

// delaySlack is what the delay cases allow beyond the promised lateness (1 % or 1 s): the
// time a loaded test machine takes to hand a delivery to the test.
const delaySlack = 500 * time.Millisecond

// runDelays runs the delayed-message cases (triggers.Delayer) of the queue suite.
func runDelays(t *testing.T, newQueues func(t *testing.T) triggers.Queues, f Features,
	open func(*testing.T, triggers.Queues, triggers.QueueOptions) triggers.Source) {
	delayer := func(t *testing.T) (triggers.Queues, triggers.Delayer) {
		t.Helper()
		q := newQueues(t)
		d, ok := q.(triggers.Delayer)
		if !ok {
			if f.NoDelay {
				t.Skipf("%s declares that it holds no delayed messages", f.Name)
			}
			t.Fatalf("%T does not deliver delayed messages (triggers.Delayer)", q)
		}
		return q, d
	}
	publishDelayed := func(t *testing.T, d triggers.Delayer, queue string, delay time.Duration, ms ...*triggers.Message) time.Time {
		t.Helper()
		sent := time.Now()
		if err := d.PublishDelayed(testkit.Context(t, 10*time.Second), queue, delay, ms...); err != nil {
			t.Fatalf("publish to %s after %v: %v", queue, delay, err)
		}
		return sent
	}

	t.Run("DelayedArrivesAfterItsDelay", func(t *testing.T) {
		q, d := delayer(t)
		name := unique(t, "delayed")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		const delay = 2 * time.Second
		late := msgs("late", 1)
		sent := publishDelayed(t, d, name, delay, late...)
		if err := q.PublishQueue(testkit.Context(t, 10*time.Second), name, msgs("now", 1)...); err != nil {
			t.Fatal(err)
		}
		first := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)[0]
		if first.ID != "now-0" {
			t.Fatalf("first delivery %s, want now-0: the delayed message came before its delay", first.ID)
		}
		mustAck(t, src, first)
		got := checkDelayed(t, src, sent, delay)
		checkMessage(t, got, late[0])
		if got.Attempt != 1 {
			t.Fatalf("delayed message's first delivery has attempt %d", got.Attempt)
		}
		mustAck(t, src, got)
	})

	t.Run("DelayedMessagesKeepTheirOrderOfDueTimes", func(t *testing.T) {
		q, d := delayer(t)
		name := unique(t, "delayed")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		sent3 := publishDelayed(t, d, name, 3*time.Second, msgs("three", 1)...)
		sent1 := publishDelayed(t, d, name, time.Second, msgs("one", 1)...)
		one := checkDelayed(t, src, sent1, time.Second)
		if one.ID != "one-0" {
			t.Fatalf("first delivery %s, want one-0 (due after 1s)", one.ID)
		}
		mustAck(t, src, one)
		three := checkDelayed(t, src, sent3, 3*time.Second)
		if three.ID != "three-0" {
			t.Fatalf("second delivery %s, want three-0", three.ID)
		}
		mustAck(t, src, three)
	})

	t.Run("CancelledDelayedMessageIsNotDelivered", func(t *testing.T) {
		q, d := delayer(t)
		name := unique(t, "delayed")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		ms := msgs("m", 2)
		sent := publishDelayed(t, d, name, time.Second, ms...)
		if err := d.CancelDelayed(testkit.Context(t, 10*time.Second), name, ms[0].ID); err != nil {
			t.Fatalf("cancel %s: %v", ms[0].ID, err)
		}
		kept := checkDelayed(t, src, sent, time.Second)
		if kept.ID != ms[1].ID {
			t.Fatalf("delivered %s, which was cancelled", kept.ID)
		}
		mustAck(t, src, kept)
		// Both were due together: the cancelled one would be here by now.
		expectNothing(t, src, time.Second)
		// Cancelling what is gone, or never was, is no error.
		for _, gone := range []string{ms[0].ID, ms[1].ID, "never-published"} {
			if err := d.CancelDelayed(testkit.Context(t, 10*time.Second), name, gone); err != nil {
				t.Fatalf("cancel %s: %v", gone, err)
			}
		}
	})

	t.Run("DelayLongerThanTheBackendHoldsIsRefused", func(t *testing.T) {
		q, d := delayer(t)
		name := unique(t, "delayed")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		if d.MaxDelay() < 24*time.Hour {
			t.Fatalf("MaxDelay %v: a backend holds a day's delay at least", d.MaxDelay())
		}
		err := d.PublishDelayed(testkit.Context(t, 10*time.Second), name, d.MaxDelay()+time.Second, msgs("m", 1)...)
		if !errors.Is(err, triggers.ErrDelayTooLong) {
			t.Fatalf("publish after MaxDelay+1s: %v, want ErrDelayTooLong", err)
		}
		// A zero delay is no delay.
		publishDelayed(t, d, name, 0, msgs("now", 1)...)
		got := ReceiveN(t, testkit.Context(t, 10*time.Second), src, 1)[0]
		if got.ID != "now-0" {
			t.Fatalf("delivered %s, want now-0", got.ID)
		}
		mustAck(t, src, got)
	})

	t.Run("DelayedSurvivesBrokerRestart", func(t *testing.T) {
		if f.Restart == nil {
			t.Skipf("%s declares no broker to restart", f.Name)
		}
		q, d := delayer(t)
		name := unique(t, "delayed")
		src := open(t, q, triggers.QueueOptions{Queue: name})
		sent := publishDelayed(t, d, name, 2*time.Second, msgs("m", 1)...)
		f.Restart(t)
		got := ReceiveN(t, testkit.Context(t, 30*time.Second), src, 1)[0]
		if at := time.Since(sent); at < 2*time.Second || got.ID != "m-0" {
			t.Fatalf("after the restart got %s after %v, want m-0 after 2s", got.ID, at)
		}
		if err := src.Ack(testkit.Context(t, 10*time.Second), got); err != nil {
			t.Logf("ack after restart: %v (the message will be redelivered: at least once)", err)
		}
	})
}

// checkDelayed receives one delivery from src and checks that it came no sooner than delay
// after sent, and no later than the promised lateness (1 % or 1 s) allows.
func checkDelayed(t *testing.T, src triggers.Source, sent time.Time, delay time.Duration) *triggers.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), delay+10*time.Second)
	defer cancel()
	ds, err := src.Receive(ctx, 1)
	if err != nil {
		t.Fatalf("receive the message delayed %v: %v", delay, err)
	}
	at := time.Since(sent)
	if at < delay {
		t.Fatalf("%s arrived %v after it was published, before its delay %v", ds[0].ID, at, delay)
	}
	if limit := delay + max(delay/100, time.Second) + delaySlack; at > limit {
		t.Fatalf("%s arrived %v after it was published: its delay %v allows %v", ds[0].ID, at, delay, limit)
	}
	t.Logf("%s delayed %v arrived after %v", ds[0].ID, delay, at.Round(time.Millisecond))
	return ds[0]
}
