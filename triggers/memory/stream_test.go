package memory_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

func TestStreamTrimmedToMaxLength(t *testing.T) {
	b := newBroker(t, memory.Options{MaxStreamLength: 5})
	ctx := context.Background()
	early := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "early", FromOldest: true})
	b.PublishStream(ctx, "s", messages("m", 2)...)
	held := receive(t, early, 2) // pending in "early" when they are trimmed
	b.PublishStream(ctx, "s", messages("n", 6)...)

	late := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "late", FromOldest: true})
	if got := idsOf(receive(t, late, 5)); got != "n-1#1 n-2#1 n-3#1 n-4#1 n-5#1" {
		t.Fatalf("a new group from the oldest sees %s, want the 5 newest", got)
	}
	// "early" read m-0 and m-1, then n-0 was trimmed before it read it: it goes on at n-1.
	if got := idsOf(receive(t, early, 1)); got != "n-1#1" {
		t.Fatalf("the early group goes on with %s", got)
	}
	// Trimmed entries left the pending list: acking is a no-op, retrying is refused.
	if err := early.Ack(ctx, held[0]); err != nil {
		t.Fatalf("ack of a trimmed entry: %v", err)
	}
	if err := early.Retry(ctx, held[1], 0); !errors.Is(err, memory.ErrNotHeld) {
		t.Fatalf("retry of a trimmed entry: %v, want ErrNotHeld", err)
	}
	dead, _ := b.ListDead(ctx, "s", 0) // lists any stream: here to count what is kept
	if len(dead) != 5 {
		t.Fatalf("the stream keeps %d entries, want 5", len(dead))
	}
}

func TestStreamEntryIDs(t *testing.T) {
	b := newBroker(t, memory.Options{})
	src := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "g"})
	ms := make([]*triggers.Message, 50)
	for i := range ms {
		ms[i] = &triggers.Message{Data: []byte("x")}
	}
	b.PublishStream(context.Background(), "s", ms...)
	b.PublishStream(context.Background(), "s", ms...)
	ds := receive(t, src, 100)
	var lastMs, lastSeq int64 = -1, -1
	for _, d := range ds {
		msPart, seqPart, ok := strings.Cut(d.ID, "-")
		ms, err1 := strconv.ParseInt(msPart, 10, 64)
		seq, err2 := strconv.ParseInt(seqPart, 10, 64)
		if !ok || err1 != nil || err2 != nil || ms < time.Now().Add(-time.Minute).UnixMilli() {
			t.Fatalf("entry ID %q is not <unix-ms>-<seq>", d.ID)
		}
		if ms < lastMs || ms == lastMs && seq <= lastSeq {
			t.Fatalf("entry ID %q after %d-%d", d.ID, lastMs, lastSeq)
		}
		lastMs, lastSeq = ms, seq
		if d.Time.IsZero() {
			t.Fatal("time not filled")
		}
	}
}

func TestStreamRetriedEntryGoesToAnyConsumer(t *testing.T) {
	b := newBroker(t, memory.Options{})
	ctx := context.Background()
	a := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "g", Consumer: "a"})
	other := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "g", Consumer: "b"})
	b.PublishStream(ctx, "s", messages("m", 1)...)
	d := receive(t, a, 1)[0]
	if err := a.Retry(ctx, d, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a.Retry(ctx, d, 0); !errors.Is(err, memory.ErrNotHeld) {
		t.Fatalf("second retry of one delivery: %v, want ErrNotHeld", err)
	}
	got := receive(t, other, 1)[0]
	if got.ID != "m-0" || got.Attempt != 2 {
		t.Fatalf("other consumer got %s#%d", got.ID, got.Attempt)
	}
	// a's old delivery is stale now that b holds the entry.
	if err := a.DeadLetter(ctx, d, "late"); !errors.Is(err, memory.ErrNotHeld) {
		t.Fatalf("dead-letter of a claimed entry: %v, want ErrNotHeld", err)
	}
	if err := other.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	nothing(t, a, 50*time.Millisecond)
}

func TestStreamPendingNotClaimedBeforeClaimAfter(t *testing.T) {
	b := newBroker(t, memory.Options{})
	ctx := context.Background()
	dead := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "g", Consumer: "dead"})
	b.PublishStream(ctx, "s", messages("m", 2)...)
	receive(t, dead, 2)
	dead.Close()
	start := time.Now()
	alive := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "g", Consumer: "alive", ClaimAfter: 300 * time.Millisecond})
	nothing(t, alive, 100*time.Millisecond)
	ds := receive(t, alive, 2)
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("claimed after %s, before ClaimAfter", el)
	}
	if got := idsOf(ds); got != "m-0#2 m-1#2" {
		t.Fatalf("claimed %s", got)
	}
	// Claimed entries come before new ones.
	b.PublishStream(ctx, "s", messages("n", 1)...)
	alive.Retry(ctx, ds[1], 0)
	if got := idsOf(receive(t, alive, 2)); got != "m-1#3 n-0#1" {
		t.Fatalf("got %s, want the due entry first", got)
	}
}

func TestStreamConsumerNamesUniqueAmongLive(t *testing.T) {
	b := newBroker(t, memory.Options{})
	opts := triggers.StreamOptions{Stream: "s", Group: "g", Consumer: "c"}
	first := openStream(t, b, opts)
	if _, err := b.ConsumeStream(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "live consumer") {
		t.Fatalf("second live consumer with one name: %v", err)
	}
	first.Close()
	openStream(t, b, opts)
}

func TestStreamOptionsValidated(t *testing.T) {
	b := newBroker(t, memory.Options{})
	_, err := b.ConsumeStream(context.Background(), triggers.StreamOptions{ClaimAfter: -time.Second})
	for _, want := range []string{"stream: required", "group: required", "consumer: required", "claimAfter: -1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v does not mention %q", err, want)
		}
	}
}

func TestStreamDeadLetterKeepsFieldsAndRedrive(t *testing.T) {
	b := newBroker(t, memory.Options{})
	ctx := context.Background()
	src := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "g"})
	b.PublishStream(ctx, "s", &triggers.Message{Type: "T", Data: []byte("d"), CorrelationID: "c", Headers: map[string]string{"k": "v"}})
	b.PublishStream(ctx, "s", messages("m", 3)...)
	ds := receive(t, src, 4)
	entryID := ds[0].ID // no ID: the entry ID (docs/events.md)
	for _, d := range ds {
		if err := src.DeadLetter(ctx, d, "boom "+d.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The default dead-letter stream, read like any stream.
	dl := openStream(t, b, triggers.StreamOptions{Stream: "s.dlq", Group: "inspect", FromOldest: true})
	got := receive(t, dl, 1)[0]
	if got.ID != entryID || got.Type != "T" || string(got.Data) != "d" || got.CorrelationID != "c" ||
		got.Headers["k"] != "v" || got.Headers["error"] != "boom "+entryID || got.Headers["attempts"] != "1" {
		t.Fatalf("dead letter %+v", got.Message)
	}
	dead, err := b.ListDead(ctx, "s.dlq", 2)
	if err != nil || len(dead) != 2 || dead[0].ID != entryID || dead[1].ID != "m-0" || dead[0].Headers["attempts"] != "" {
		t.Fatalf("list dead (limit 2): %+v, %v", dead, err)
	}
	if n, err := b.Redrive(ctx, "s.dlq", "s", 2); n != 2 || err != nil {
		t.Fatalf("redrive moved %d: %v", n, err)
	}
	again := receive(t, src, 2)
	if got := idsOf(again); got != entryID+"#1 m-0#1" {
		t.Fatalf("redriven %s", got)
	}
	if again[0].Headers["error"] != "" || again[0].Headers["attempts"] != "" || again[0].Headers["k"] != "v" {
		t.Fatalf("redriven headers %v", again[0].Headers)
	}
	if n, err := b.Purge(ctx, "s.dlq"); n != 2 || err != nil {
		t.Fatalf("purge removed %d: %v", n, err)
	}
	// The inspecting group's pending entry went with the purge.
	if err := dl.Retry(ctx, got, 0); !errors.Is(err, memory.ErrNotHeld) {
		t.Fatalf("retry of a purged entry: %v", err)
	}
}
