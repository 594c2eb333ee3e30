package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestNotifyPublishesOnTheChannelsTopic(t *testing.T) {
	ev := fntest.HTTP("POST", "/notify/demo", map[string]string{"channel": "demo"}, Message{Text: "deploy done"})
	ev.Time = time.Date(2025, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	res, err := fntest.Invoke(t, fn.HandlerFunc(Handle), ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 202 || string(res.Body) != `{"topic":"news.demo"}` {
		t.Fatalf("got %d %s, want 202 {\"topic\":\"news.demo\"}", res.Status, res.Body)
	}
	if len(res.Notified) != 1 {
		t.Fatalf("%d notifications, want 1", len(res.Notified))
	}
	n := res.Notified[0]
	var news News
	if err := json.Unmarshal(n.Data, &news); err != nil {
		t.Fatal(err)
	}
	if n.Topic != "news.demo" || news.Text != "deploy done" || news.At != "2025-03-01T11:30:00Z" {
		t.Fatalf("notified %s %s", n.Topic, n.Data)
	}
}

func TestNotifyRefusesBadRequests(t *testing.T) {
	demo := map[string]string{"channel": "demo"}
	cases := []struct {
		name   string
		params map[string]string
		body   any
		want   string
	}{
		{"no body", demo, nil, "JSON"},
		{"not JSON", demo, "hello", "JSON"},
		{"not an object", demo, []byte(`["hi"]`), "JSON"},
		{"no text", demo, map[string]any{}, "text is required"},
		{"blank text", demo, Message{Text: "  \n"}, "text is required"},
		{"text too long", demo, Message{Text: strings.Repeat("é", MaxText+1)}, "at most 500"},
		{"channel with a dot", map[string]string{"channel": "a.b"}, Message{Text: "hi"}, "channel"},
		{"no channel", nil, Message{Text: "hi"}, "channel"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := fntest.Invoke(t, fn.HandlerFunc(Handle), fntest.HTTP("POST", "/notify/x", c.params, c.body), 0)
			assertRefused(t, res, err, c.want)
		})
	}
}

func TestNotifyTakesTheLongestText(t *testing.T) {
	long := strings.Repeat("é", MaxText)
	ev := fntest.HTTP("POST", "/notify/demo", map[string]string{"channel": "demo"}, Message{Text: long})
	if res, err := fntest.Invoke(t, fn.HandlerFunc(Handle), ev, 0); err != nil || res.Status != 202 {
		t.Fatalf("%d characters: %v", MaxText, err)
	}
}

func TestChatPublishesAreVetted(t *testing.T) {
	cases := []struct {
		name string
		data any
		want string // "" when the publish goes through
	}{
		{"a message", Message{Text: "hi all"}, ""},
		{"extra fields", map[string]any{"text": "hi", "name": "ada"}, ""},
		{"no text", map[string]any{"name": "ada"}, "text is required"},
		{"null", []byte("null"), "text is required"},
		{"a string", []byte(`"hi"`), "JSON"},
		{"text too long", Message{Text: strings.Repeat("x", MaxText+1)}, "at most 500"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := fntest.Message("websocket/chat.lobby", "websocket.publish", c.data)
			ev.Subject = "chat.lobby"
			res, err := fntest.Invoke(t, fn.HandlerFunc(Handle), ev, 0)
			if c.want != "" {
				assertRefused(t, res, err, c.want)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if len(res.Notified)+len(res.Emitted) != 0 {
				t.Fatalf("a vetted publish has effects: %+v", res)
			}
		})
	}
}

func assertRefused(t *testing.T, res *fn.Result, err error, want string) {
	t.Helper()
	var fe *fn.Error
	if !errors.As(err, &fe) || fe.Status != 400 {
		t.Fatalf("got %+v, %v; want a 400", res, err)
	}
	if !strings.Contains(fe.Message, want) {
		t.Fatalf("message %q does not say %q", fe.Message, want)
	}
}

func TestChatCheck(t *testing.T) {
	ev := fntest.Message("websocket/chat.check", "edgefn.ws.rpc", Message{Text: "héllo"})
	res, err := fntest.Invoke(t, fn.HandlerFunc(Handle), ev, 0)
	if err != nil || res.Status != 200 || string(res.Body) != `{"chars":5,"max":500}` {
		t.Fatalf("got %+v %s, %v; want 200 {\"chars\":5,\"max\":500}", res, res.Body, err)
	}
	ev = fntest.Message("websocket/chat.check", "edgefn.ws.rpc", Message{Text: " "})
	res, err = fntest.Invoke(t, fn.HandlerFunc(Handle), ev, 0)
	assertRefused(t, res, err, "text is required")
}
