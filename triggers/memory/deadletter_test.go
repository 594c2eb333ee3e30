package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/edgefn/edgefn/triggers/memory"
)

func TestDeadLettersByName(t *testing.T) {
	b := newBroker(t, memory.Options{})
	ctx := context.Background()
	if dead, err := b.ListDead(ctx, "nothing", 10); err != nil || len(dead) != 0 {
		t.Fatalf("unknown name: %v, %v", dead, err)
	}
	b.PublishQueue(ctx, "both", messages("m", 1)...)
	b.PublishStream(ctx, "both", messages("m", 1)...)
	if _, err := b.ListDead(ctx, "both", 10); err == nil {
		t.Fatal("a name that is a queue and a stream is not refused")
	}
	if _, err := b.Redrive(ctx, "x", "x", 10); err == nil {
		t.Fatal("redrive into itself is not refused")
	}
}

func TestQueueRedriveStopsWhenTargetFull(t *testing.T) {
	b := newBroker(t, memory.Options{MaxQueueLength: 3})
	ctx := context.Background()
	b.PublishQueue(ctx, "dlq", messages("d", 3)...)
	b.PublishQueue(ctx, "q", messages("m", 1)...)
	n, err := b.Redrive(ctx, "dlq", "q", 0)
	if n != 2 || !errors.Is(err, memory.ErrFull) {
		t.Fatalf("redrive moved %d: %v; want 2 and ErrFull", n, err)
	}
	if dead, _ := b.ListDead(ctx, "dlq", 0); len(dead) != 1 || dead[0].ID != "d-2" {
		t.Fatalf("left %+v, want the newest", dead)
	}
}
