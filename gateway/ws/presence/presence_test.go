package presence_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/edgefn/edgefn/gateway/ws/presence"
	"github.com/edgefn/edgefn/gateway/ws/presence/presencetest"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testkit"
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

// Nodes may refresh with different TTLs: the keys of a topic live as long as the member that
// expires last, whichever node wrote last.
func TestRedisMixedTTLs(t *testing.T) {
	prefix := "edgefn:cluster:presence-test-" + id.New()[:12] + ":"
	long, err := presence.NewRedis(testredis.Client(t, "presence-long"), prefix, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	short, err := presence.NewRedis(testredis.Client(t, "presence-short"), prefix, 300*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t, 20*time.Second)
	t.Cleanup(func() { testredis.Client(t, "presence-cleanup").Del(context.Background(), long.Keys("chat.mixed")...) })
	if err := long.Join(ctx, "chat.mixed", presence.Member{Client: "kept", Sub: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := short.Join(ctx, "chat.mixed", presence.Member{Client: "brief", Sub: "bob"}); err != nil {
		t.Fatal(err)
	}
	c := testredis.Client(t, "presence-ttl")
	testkit.Eventually(t, 10*time.Second, "the short-lived member to expire", func() bool {
		ms, _, err := long.Page(ctx, "chat.mixed", "", 10)
		return err == nil && len(ms) == 1 && ms[0].Client == "kept"
	})
	// Past the short TTL the keys are still there, to expire with the long-lived member.
	for _, k := range long.Keys("chat.mixed")[:3] {
		if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl < 50*time.Minute {
			t.Errorf("%s expires in %v (%v), want about an hour", k, ttl, err)
		}
	}
}
