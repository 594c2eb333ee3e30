package ws

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/gateway/ws/presence"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testredis"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// BenchmarkPresenceOp times the answer to a presence op (the first page of 100 of a topic of
// 10,000 members) and to a presence_stats op, over a real WebSocket, with the members in
// memory and in Redis; the ping op is the baseline: a round trip that reads nothing
// (bench/README.md#presence).
func BenchmarkPresenceOp(b *testing.B) {
	for _, backend := range []string{"memory", "redis"} {
		b.Run(backend, func(b *testing.B) {
			var store presence.Store = presence.NewMemory()
			if backend == "redis" {
				rs, err := presence.NewRedis(testredis.Client(b, "presence-op-bench"),
					"edgefn:cluster:presence-op-bench-"+id.New()[:12]+":", time.Hour, nil)
				if err != nil {
					b.Fatal(err)
				}
				store = rs
				b.Cleanup(func() {
					c := testredis.Client(b, "presence-op-bench-cleanup")
					c.Del(context.Background(), rs.Keys("chat.big")...)
				})
			}
			members := make([]presence.Member, 10_000)
			for i := range members {
				members[i] = presence.Member{Client: id.New(), Sub: fmt.Sprintf("user-%05d", i),
					Info: []byte(fmt.Sprintf(`{"name":"User %05d"}`, i))}
			}
			if err := store.Refresh(context.Background(), "chat.big", members); err != nil {
				b.Fatal(err)
			}
			h, url := newTestHubConfig(b, Config{MaxConnsPerIP: -1, MaxConns: -1, Presence: store})
			chat := rule(b, "chat.*", "true", "false")
			chat.Presence = true
			h.SetRules([]*manifest.TopicRule{chat})
			c, _, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			for _, op := range []struct{ name, frame, want string }{
				{"presence", `{"id":1,"op":"presence","topic":"chat.big"}`, `"cursor":`},
				{"presence_stats", `{"id":1,"op":"presence_stats","topic":"chat.big"}`, `"clients":10000,"users":10000`},
				{"ping", `{"id":1,"op":"ping"}`, `"ok":true`},
			} {
				b.Run(op.name, func(b *testing.B) {
					for b.Loop() {
						if err := c.WriteMessage(websocket.TextMessage, []byte(op.frame)); err != nil {
							b.Fatal(err)
						}
						_, got, err := c.ReadMessage()
						if err != nil || !strings.Contains(string(got), op.want) {
							b.Fatalf("%s: %.200s %v", op.name, got, err)
						}
					}
				})
			}
		})
	}
}
