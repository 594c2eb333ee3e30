package memory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

// BenchmarkPublishReceiveAck measures the round trip one message makes through the broker:
// publish a batch, receive it, acknowledge it, in one goroutine. The baseline moves the same
// message pointers through a buffered channel in the same run, so results can be read as a
// ratio to it.
func BenchmarkPublishReceiveAck(b *testing.B) {
	for _, batch := range []int{1, 64} {
		msgs := make([]*triggers.Message, batch)
		for i := range msgs {
			msgs[i] = &triggers.Message{
				ID: fmt.Sprint("m-", i), Type: "OrderCreated", ContentType: "application/json",
				Data:    []byte(`{"order":"o-123","amount":4200,"currency":"EUR","items":[1,2,3]}`),
				Headers: map[string]string{"x-tenant": "t1"},
			}
		}
		b.Run(fmt.Sprintf("baseline-chan/batch=%d", batch), func(b *testing.B) {
			ch := make(chan *triggers.Message, batch)
			for b.Loop() {
				for _, m := range msgs {
					ch <- m
				}
				for range batch {
					<-ch
				}
			}
			reportRate(b, batch)
		})
		b.Run(fmt.Sprintf("queue/batch=%d", batch), func(b *testing.B) {
			br := memory.New(memory.Options{})
			defer br.Close()
			src, _ := br.ConsumeQueue(context.Background(), triggers.QueueOptions{Queue: "q", Prefetch: batch})
			roundTrips(b, src, batch, func(ctx context.Context) error { return br.PublishQueue(ctx, "q", msgs...) })
		})
		b.Run(fmt.Sprintf("stream/batch=%d", batch), func(b *testing.B) {
			br := memory.New(memory.Options{})
			defer br.Close()
			src, _ := br.ConsumeStream(context.Background(), triggers.StreamOptions{Stream: "s", Group: "g", Consumer: "c"})
			roundTrips(b, src, batch, func(ctx context.Context) error { return br.PublishStream(ctx, "s", msgs...) })
		})
	}
}

func roundTrips(b *testing.B, src triggers.Source, batch int, publish func(context.Context) error) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := publish(ctx); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch; {
			ds, err := src.Receive(ctx, batch-got)
			if err != nil {
				b.Fatal(err)
			}
			if err := src.Ack(ctx, ds...); err != nil {
				b.Fatal(err)
			}
			got += len(ds)
		}
	}
	reportRate(b, batch)
}

func reportRate(b *testing.B, batch int) {
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
}
