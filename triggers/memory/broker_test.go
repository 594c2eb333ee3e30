package memory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

// TestCloseLeavesNoGoroutine blocks consumers of every kind in Receive, some with timers
// armed for a retry or a claim, closes the broker, and checks that every Receive returns
// ErrClosed and that the goroutine count comes back to where it was.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	base := runtime.NumGoroutine()
	b := memory.New(memory.Options{})
	ctx := context.Background()

	var srcs []triggers.Source
	for i := range 4 {
		q := fmt.Sprintf("q%d", i)
		src, _ := b.ConsumeQueue(ctx, triggers.QueueOptions{Queue: q})
		srcs = append(srcs, src)
		s, _ := b.ConsumeStream(ctx, triggers.StreamOptions{Stream: "s", Group: "g", Consumer: q, ClaimAfter: time.Hour})
		srcs = append(srcs, s)
	}
	// A retry due in an hour on a queue and a stream: their consumers wait with a timer.
	b.PublishQueue(ctx, "q0", messages("m", 1)...)
	d := receive(t, srcs[0], 1)[0]
	srcs[0].Retry(ctx, d, time.Hour)
	b.PublishStream(ctx, "s", messages("m", 1)...)
	d = receive(t, srcs[1], 1)[0]
	srcs[1].Retry(ctx, d, time.Hour)

	errc := make(chan error, len(srcs))
	for _, src := range srcs {
		go func() {
			_, err := src.Receive(ctx, 1)
			errc <- err
		}()
	}
	// Close only once every Receive waits in the broker, timers armed.
	testkit.Eventually(t, 5*time.Second, "every Receive to block", func() bool {
		buf := make([]byte, 1<<20)
		return bytes.Count(buf[:runtime.Stack(buf, true)], []byte("memory.(*Broker).block(")) == len(srcs)
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for range srcs {
		select {
		case err := <-errc:
			if !errors.Is(err, triggers.ErrClosed) {
				t.Fatalf("blocked Receive returned %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a blocked Receive did not return after Close")
		}
	}
	testkit.Eventually(t, 5*time.Second, "goroutines to come back to the baseline", func() bool {
		return runtime.NumGoroutine() <= base
	})
	if err := b.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestAfterClose(t *testing.T) {
	b := memory.New(memory.Options{})
	ctx := context.Background()
	q := openQueue(t, b, triggers.QueueOptions{Queue: "q"})
	s := openStream(t, b, triggers.StreamOptions{Stream: "s", Group: "g"})
	b.PublishQueue(ctx, "q", messages("m", 1)...)
	d := receive(t, q, 1)[0]
	b.Close()
	if err := b.PublishQueue(ctx, "q", messages("m", 1)...); !errors.Is(err, memory.ErrBrokerClosed) {
		t.Fatalf("publish to queue: %v", err)
	}
	if err := b.PublishStream(ctx, "s", messages("m", 1)...); !errors.Is(err, memory.ErrBrokerClosed) {
		t.Fatalf("publish to stream: %v", err)
	}
	if _, err := b.ConsumeQueue(ctx, triggers.QueueOptions{Queue: "q"}); !errors.Is(err, memory.ErrBrokerClosed) {
		t.Fatalf("consume: %v", err)
	}
	if _, err := b.ListDead(ctx, "q", 1); !errors.Is(err, memory.ErrBrokerClosed) {
		t.Fatalf("list dead: %v", err)
	}
	for _, src := range []triggers.Source{q, s} {
		if _, err := src.Receive(ctx, 1); !errors.Is(err, triggers.ErrClosed) {
			t.Fatalf("receive: %v", err)
		}
	}
	if err := q.Ack(ctx, d); !errors.Is(err, triggers.ErrClosed) {
		t.Fatalf("ack: %v", err)
	}
}

// TestStress runs publishers and consumers at once, the consumers failing at random: every
// message ends acknowledged exactly once or dead-lettered after its retries, and nothing is
// left.
func TestStress(t *testing.T) {
	const n, consumers, retries = 2000, 4, 2
	for _, kind := range []string{"queue", "stream"} {
		t.Run(kind, func(t *testing.T) {
			b := newBroker(t, memory.Options{})
			ctx := testkit.Context(t, 30*time.Second)
			open := func(i int) triggers.Source {
				if kind == "queue" {
					return openQueue(t, b, triggers.QueueOptions{Queue: "x", Prefetch: 8})
				}
				return openStream(t, b, triggers.StreamOptions{Stream: "x", Group: "g", Consumer: fmt.Sprint(i), FromOldest: true})
			}
			publish := b.PublishQueue
			if kind == "stream" {
				publish = b.PublishStream
			}
			srcs := make([]triggers.Source, consumers)
			for i := range srcs {
				srcs[i] = open(i)
			}
			var mu sync.Mutex
			acked := map[string]int{}
			var wg sync.WaitGroup
			for p := range 2 {
				wg.Go(func() {
					for i := 0; i < n/2; i += 10 {
						if err := publish(ctx, "x", messages(fmt.Sprintf("p%d-%d", p, i), 10)...); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			done := func() bool {
				mu.Lock()
				defer mu.Unlock()
				dead, _ := b.ListDead(ctx, "x.dlq", 0)
				return len(acked)+len(dead) == n
			}
			for _, src := range srcs {
				wg.Go(func() {
					for !done() {
						rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
						ds, err := src.Receive(rctx, 5)
						cancel()
						if err != nil && rctx.Err() == nil {
							t.Error(err)
							return
						}
						for _, d := range ds {
							var err error
							switch {
							case rand.IntN(3) > 0:
								mu.Lock()
								acked[d.ID]++
								mu.Unlock()
								err = src.Ack(ctx, d)
							case d.Attempt > retries:
								err = src.DeadLetter(ctx, d, "gave up")
							default:
								err = src.Retry(ctx, d, time.Duration(rand.IntN(3))*time.Millisecond)
							}
							if err != nil {
								t.Error(err)
							}
						}
					}
				})
			}
			wg.Wait()
			for id, k := range acked {
				if k != 1 {
					t.Fatalf("%s acknowledged %d times", id, k)
				}
			}
			dead, _ := b.ListDead(ctx, "x.dlq", 0)
			for _, m := range dead {
				if acked[m.ID] > 0 || m.Attempts != retries+1 || m.Error != "gave up" {
					t.Fatalf("dead letter %s: %d attempts, acked %d times", m.ID, m.Attempts, acked[m.ID])
				}
			}
			for _, src := range srcs {
				nothing(t, src, 10*time.Millisecond)
			}
			t.Logf("%d acknowledged, %d dead-lettered", len(acked), len(dead))
		})
	}
}
