package ws

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/internal/testkit"
)

// A text frame that is not UTF-8 closes the connection with 1007 and is never handled: its
// publish reaches no subscriber, who stays connected.
func TestInvalidUTF8FrameCloses1007(t *testing.T) {
	_, url := newTestHub(t)
	sub := dial(t, url)
	roundTrip(t, sub, `{"id":1,"op":"subscribe","topic":"t.x"}`, `"ok":true`)
	bad := dial(t, url)
	if err := bad.WriteMessage(websocket.TextMessage, []byte("{\"id\":2,\"op\":\"publish\",\"topic\":\"t.x\",\"data\":\"\xff\xfe\"}")); err != nil {
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, frame, err := bad.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseInvalidData {
		t.Fatalf("after a frame that is not UTF-8: %q %v, want close 1007", frame, err)
	}
	// The subscriber got nothing of it: the next frame it reads is the answer to its ping.
	roundTrip(t, sub, `{"id":3,"op":"ping"}`, `{"id":3,"ok":true}`)
}

// Notify (a function's, the admin API's) refuses what no subscriber may get: a topic that is
// malformed, too long or under requests., and data that is not UTF-8 JSON.
func TestNotifyRefusesInvalidPublications(t *testing.T) {
	h, _ := newTestHub(t)
	cases := map[string]struct{ topic, data, msg string }{
		"long topic":   {"t." + strings.Repeat("x", 300), `{}`, "topic is longer than 256 bytes"},
		"bad topic":    {"t..x", `{}`, "invalid topic"},
		"reply topic":  {"requests.x", `{}`, "requests.x: requests.* carries async replies only"},
		"deeper reply": {"requests.a.b", `{}`, "requests.* carries async replies only"},
		"not UTF-8":    {"t.x", "\"\xff\xfe\"", "not UTF-8"},
		"not JSON":     {"t.x", `{`, "not JSON"},
	}
	for name, c := range cases {
		err := h.Notify(context.Background(), c.topic, []byte(c.data))
		if !errors.Is(err, ErrInvalidPublication) || !strings.Contains(err.Error(), c.msg) || len(err.Error()) > 200 {
			t.Errorf("%s: %v, want ErrInvalidPublication saying %q (briefly)", name, err, c.msg)
		}
	}
	if err := h.Notify(context.Background(), "t."+strings.Repeat("x", 254), []byte(`{"ok":"✓"}`)); err != nil {
		t.Errorf("a 256-byte topic with UTF-8 JSON: %v", err)
	}
}

// The N+1th connection of one client IP gets 429; past the total cap a connection is
// closed with 1013; a connection that ends gives its slot back.
func TestConnectionCaps(t *testing.T) {
	_, url := newTestHubConfig(t, Config{MaxConnsPerIP: 2, MaxConns: -1})
	first := dial(t, url)
	dial(t, url)
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection of one IP: %v %v, want 429", resp, err)
	}
	first.Close()
	waitDial(t, url) // the slot came back

	_, url = newTestHubConfig(t, Config{MaxConnsPerIP: -1, MaxConns: 1})
	only := dial(t, url)
	over := dial(t, url) // upgraded, then closed
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = over.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseTryLater {
		t.Fatalf("connection past the total cap: %v, want close 1013", err)
	}
	roundTrip(t, only, `{"id":1,"op":"ping"}`, `{"id":1,"ok":true}`)
	only.Close()
	waitDial(t, url)
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitDial waits until a new connection is served (answers a ping).
func waitDial(t *testing.T, url string) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, "a connection to be served again", func() bool {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"op":"ping"}`))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, frame, err := c.ReadMessage()
		return err == nil && string(frame) == `{"id":1,"ok":true}`
	})
}

// roundTrip sends frame and checks that the next frame read contains want.
func roundTrip(t *testing.T, c *websocket.Conn, frame, want string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, got, err := c.ReadMessage()
	if err != nil || !strings.Contains(string(got), want) {
		t.Fatalf("%s: got %q %v, want %s", frame, got, err, want)
	}
}
