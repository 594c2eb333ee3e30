package redis

import (
	"context"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/triggers"
)

// benchEntries is how many pre-filled entries each iteration of both benchmarks consumes.
const benchEntries = 20_000

// benchBatch is the COUNT of each read, and the max of each Receive.
const benchBatch = 64

// Run both in one go, and compare the msgs/s of Source with the RawXReadGroup baseline:
//
//	go test -run '^$' -bench 'Consume' -benchtime 5x -count 3 ./triggers/redis/
func BenchmarkConsume(b *testing.B) {
	b.Run("RawXReadGroup", func(b *testing.B) {
		benchConsume(b, func(b *testing.B, c *goredis.Client, stream string) {
			ctx := context.Background()
			for got := 0; got < benchEntries; {
				res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{
					Group: "g", Consumer: "c", Streams: []string{stream, ">"},
					Count: benchBatch, Block: 2 * time.Second,
				}).Result()
				if err != nil {
					b.Fatal(err)
				}
				ids := make([]string, 0, benchBatch)
				for _, m := range res[0].Messages {
					ids = append(ids, m.ID)
				}
				if err := c.XAck(ctx, stream, "g", ids...).Err(); err != nil {
					b.Fatal(err)
				}
				got += len(ids)
			}
		})
	})
	b.Run("Source", func(b *testing.B) {
		benchConsume(b, func(b *testing.B, c *goredis.Client, stream string) {
			ctx := context.Background()
			s, err := New(c, Options{})
			if err != nil {
				b.Fatal(err)
			}
			src, err := s.ConsumeStream(ctx, triggers.StreamOptions{Stream: stream, Group: "g", Consumer: "c"})
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			for got := 0; got < benchEntries; {
				ds, err := src.Receive(ctx, benchBatch)
				if err != nil {
					b.Fatal(err)
				}
				if err := src.Ack(ctx, ds...); err != nil {
					b.Fatal(err)
				}
				got += len(ds)
			}
		})
	})
}

// benchConsume times consume over benchEntries entries that each iteration pre-fills, with
// the timer stopped, into a fresh stream whose group "g" starts at its beginning.
func benchConsume(b *testing.B, consume func(b *testing.B, c *goredis.Client, stream string)) {
	c := testClient(b)
	s, err := New(c, Options{MaxLen: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	msgs := make([]*triggers.Message, benchEntries)
	for i := range msgs {
		msgs[i] = &triggers.Message{
			ID: "m-" + strconv.Itoa(i), Type: "OrderCreated", Source: "bench", ContentType: "application/json",
			CorrelationID: "corr-" + strconv.Itoa(i), Headers: map[string]string{"x-bench": "1"},
			Data: []byte(`{"order":"` + strconv.Itoa(i) + `","amount":4200,"currency":"EUR","items":3}`),
		}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		stream := uniqueName(b)
		deleteKeys(b, c, stream, stream+".dlq")
		if err := c.XGroupCreateMkStream(ctx, stream, "g", "0").Err(); err != nil {
			b.Fatal(err)
		}
		if err := s.PublishStream(ctx, stream, msgs...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		consume(b, c, stream)
	}
	b.ReportMetric(float64(b.N*benchEntries)/b.Elapsed().Seconds(), "msgs/s")
}
