package presence_test

import (
	"encoding/json"
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

func TestEncodeMemberIsJSON(t *testing.T) {
	for _, m := range []presence.Member{
		{Client: "c1", Sub: "ann"},
		{Client: "c2", Sub: `quo"te\back<slash>&`, Info: json.RawMessage(`{"a":[1,2]}`)},
		{Client: "c3", Sub: "tab\tnew\nline é ☃ \u2028", Info: json.RawMessage(`"x"`)},
	} {
		got := presence.EncodeMember(m)
		var back presence.Member
		if err := json.Unmarshal(got, &back); err != nil || back.Client != m.Client || back.Sub != m.Sub || string(back.Info) != string(m.Info) {
			t.Errorf("EncodeMember(%+v) = %s, which decodes to %+v (%v)", m, got, back, err)
		}
		want, _ := json.Marshal(m)
		if string(got) != string(want) {
			t.Errorf("EncodeMember(%+v) = %s, want %s as encoding/json writes it", m, got, want)
		}
	}
}
