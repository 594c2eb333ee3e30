package ws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/internal/filter"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

func rule(t testing.TB, match, sub, pub string) *manifest.TopicRule {
	t.Helper()
	r := &manifest.TopicRule{Match: match}
	var err error
	if r.Subscribe, err = filter.CompileRule(sub); err != nil {
		t.Fatal(err)
	}
	if r.Publish, err = filter.CompileRule(pub); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAllow(t *testing.T) {
	topics := memory.NewTopics(triggers.HistoryOptions{})
	t.Cleanup(func() { topics.Close() })
	h, err := New(Config{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	h.SetRules([]*manifest.TopicRule{
		rule(t, "orders.{id}", `claims.sub != "" && claims.sub == params.id`, "false"),
		rule(t, "orders.*", "true", "true"), // never reached for orders.X: the first match decides
		rule(t, "chat.*", "true", `claims.sub != ""`),
	})
	anon := map[string]any{"sub": ""}
	alice := map[string]any{"sub": "alice"}
	cases := []struct {
		topic   string
		claims  map[string]any
		publish bool
		code    string
	}{
		{"orders.alice", alice, false, ""},
		{"orders.bob", alice, false, codeForbidden},
		{"orders.alice", anon, false, codeForbidden},
		{"orders.alice", alice, true, codeForbidden},
		{"chat.lobby", anon, false, ""},
		{"chat.lobby", anon, true, codeForbidden},
		{"chat.lobby", alice, true, ""},
		{"other.x", alice, false, codeForbidden}, // no rule: denied
		{"bad topic", alice, false, codeBadRequest},
		{"chat..x", alice, false, codeBadRequest},
		{"requests.abc", alice, false, codeForbidden},         // no RequestAccess hook, no rule
		{"chat." + strings.Repeat("x", 251), alice, true, ""}, // 256 bytes
		{"chat." + strings.Repeat("x", 252), alice, true, codeBadRequest},
		{"chat." + strings.Repeat("x", 61<<10), alice, false, codeBadRequest},
	}
	for _, c := range cases {
		err := h.allow(context.Background(), c.topic, c.claims, c.publish)
		got := ""
		if err != nil {
			got = err.code
		}
		if got != c.code {
			t.Errorf("%s claims=%v publish=%v: %q (%v), want %q", c.topic, c.claims, c.publish, got, err, c.code)
		}
	}

	// With the async hook, requests.{id} belongs to the request's caller and no client publishes there.
	h.cfg.RequestAccess = func(_ context.Context, id string, claims map[string]any) error {
		if id == "r1" && claims["sub"] == "alice" {
			return nil
		}
		return errors.New("not your request")
	}
	if err := h.allow(context.Background(), "requests.r1", alice, false); err != nil {
		t.Errorf("owner refused: %v", err)
	}
	if err := h.allow(context.Background(), "requests.r1", anon, false); err == nil || err.code != codeForbidden {
		t.Errorf("stranger: %v", err)
	}
	if err := h.allow(context.Background(), "requests.r1", alice, true); err == nil || err.code != codeForbidden {
		t.Errorf("publish to a reply topic: %v", err)
	}
	// No client publishes under requests., whatever the rules say, with or without the hook.
	h.SetRules([]*manifest.TopicRule{rule(t, "requests.*", "true", "true"), rule(t, "requests.*.*", "true", "true")})
	for _, access := range []func(context.Context, string, map[string]any) error{h.cfg.RequestAccess, nil} {
		h.cfg.RequestAccess = access
		for _, topic := range []string{"requests.r1", "requests.x", "requests.a.b"} {
			if err := h.allow(context.Background(), topic, alice, true); err == nil || err.code != codeForbidden {
				t.Errorf("publish to %s (hook set: %v): %v", topic, access != nil, err)
			}
		}
	}
}
