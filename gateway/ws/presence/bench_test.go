package presence_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/gateway/ws/presence"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testredis"
)

// benchMembers is the size of the topic of the benchmarks (bench/README.md#presence).
const benchMembers = 10_000

// benchMember is a member as a connect function would describe a signed-in user.
func benchMember(i int) presence.Member {
	return presence.Member{
		Client: id.New(), Sub: fmt.Sprintf("user-%05d", i),
		Info: []byte(fmt.Sprintf(`{"name":"User %05d"}`, i)),
	}
}

func fill(b *testing.B, s presence.Store, topic string) []presence.Member {
	b.Helper()
	ms := make([]presence.Member, benchMembers)
	for i := range ms {
		ms[i] = benchMember(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Refresh(ctx, topic, ms); err != nil {
		b.Fatal(err)
	}
	return ms
}

// BenchmarkPresence10k reads a topic of 10,000 members: one page of 100 (what a presence op
// reads), the counts (presence_stats), every page (100 reads), and in Redis a baseline that
// reads the same page with one plain ZRANGEBYLEX and HMGET (no script, no pruning). In Redis,
// it reports the memory of the topic's four keys per member, and that of the baseline: one
// hash of the members' JSON, the least any Redis presence keeps.
func BenchmarkPresence10k(b *testing.B) {
	const topic = "bench.room"
	stores := map[string]func(b *testing.B) presence.Store{
		"memory": func(*testing.B) presence.Store { return presence.NewMemory() },
		"redis": func(b *testing.B) presence.Store {
			s, err := presence.NewRedis(testredis.Client(b, "presence-bench"),
				"edgefn:cluster:presence-bench-"+id.New()[:12]+":", time.Hour, nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			s := stores[name](b)
			fill(b, s, topic)
			ctx := context.Background()
			b.Run("page", func(b *testing.B) {
				for b.Loop() {
					if ms, _, err := s.Page(ctx, topic, "", 100); err != nil || len(ms) != 100 {
						b.Fatal(len(ms), err)
					}
				}
			})
			b.Run("stats", func(b *testing.B) {
				for b.Loop() {
					if n, _, err := s.Stats(ctx, topic); err != nil || n != benchMembers {
						b.Fatal(n, err)
					}
				}
			})
			b.Run("all-pages", func(b *testing.B) {
				for b.Loop() {
					n, after := 0, ""
					for {
						ms, next, err := s.Page(ctx, topic, after, 100)
						if err != nil {
							b.Fatal(err)
						}
						n += len(ms)
						if after = next; after == "" {
							break
						}
					}
					if n != benchMembers {
						b.Fatal(n)
					}
				}
			})
			if name == "redis" {
				benchRedisBaseline(b, s.(*presence.Redis), topic)
			}
		})
	}
}

func benchRedisBaseline(b *testing.B, s *presence.Redis, topic string) {
	c := testredis.Client(b, "presence-bench-baseline")
	ctx := context.Background()
	keys := s.Keys(topic)
	b.Run("baseline-page", func(b *testing.B) {
		for b.Loop() {
			ids, err := c.ZRangeByLex(ctx, keys[0], &goredis.ZRangeBy{Min: "-", Max: "+", Count: 100}).Result()
			if err != nil || len(ids) != 100 {
				b.Fatal(len(ids), err)
			}
			if vals, err := c.HMGet(ctx, keys[2], ids...).Result(); err != nil || len(vals) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("memory", func(b *testing.B) {
		var bytes int64
		for _, k := range keys {
			n, err := c.MemoryUsage(ctx, k, 0).Result()
			if err != nil {
				b.Fatal(err)
			}
			bytes += n
		}
		plain := "edgefn:presence-bench-plain:" + id.New()[:12]
		defer c.Del(ctx, plain)
		for i := 0; i < benchMembers; i += 1000 {
			args := make([]any, 0, 2000)
			for j := i; j < i+1000; j++ {
				m := benchMember(j)
				args = append(args, m.Client, presence.EncodeMember(m))
			}
			if err := c.HSet(ctx, plain, args...).Err(); err != nil {
				b.Fatal(err)
			}
		}
		base, err := c.MemoryUsage(ctx, plain, 0).Result()
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
		}
		b.ReportMetric(float64(bytes)/benchMembers, "B/member")
		b.ReportMetric(float64(base)/benchMembers, "baseline-B/member")
	})
	for _, k := range keys {
		c.Del(ctx, k)
	}
}
