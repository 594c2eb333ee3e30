package presence_test

import (
	"testing"
	"time"

	"github.com/edgefn/edgefn/gateway/ws/presence"
	"github.com/edgefn/edgefn/gateway/ws/presence/presencetest"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testredis"
)

func TestMemoryConformance(t *testing.T) {
	presencetest.Run(t, func(t *testing.T) (presence.Store, presence.Store) {
		s := presence.NewMemory()
		return s, s
	}, presencetest.Features{})
}

func TestRedisConformance(t *testing.T) {
	const ttl = 600 * time.Millisecond
	presencetest.Run(t, func(t *testing.T) (presence.Store, presence.Store) {
		prefix := "edgefn:cluster:presence-test-" + id.New()[:12] + ":"
		node := func(name string) presence.Store {
			s, err := presence.NewRedis(testredis.Client(t, name), prefix, ttl, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Wait)
			return s
		}
		return node("presence-a"), node("presence-b")
	}, presencetest.Features{Expires: true, TTL: ttl})
}
