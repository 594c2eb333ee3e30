package ws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

// newTestHub returns a hub on the in-process topics backend, listening to it, whose rules
// let anyone subscribe and publish to t.*, served on a loopback port (its /ws URL).
// The fan-out tests and benchmarks connect hundreds of clients from one loopback address:
// their hub has no connection caps, which TestConnectionCaps tests.
func newTestHub(t testing.TB) (*Hub, string) {
	t.Helper()
	return newTestHubConfig(t, Config{MaxConnsPerIP: -1, MaxConns: -1})
}

// newTestHubConfig is newTestHub with cfg (its Topics are set here).
func newTestHubConfig(t testing.TB, cfg Config) (*Hub, string) {
	t.Helper()
	topics := memory.NewTopics(triggers.HistoryOptions{})
	t.Cleanup(func() { topics.Close() })
	cfg.Topics = topics
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.SetRules([]*manifest.TopicRule{rule(t, "t.*", "true", "true")})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := topics.ListenTopics(ctx, h); err != nil {
		t.Fatal(err)
	}
	return h, serveHub(t, h)
}

func TestUpgradeRefusals(t *testing.T) {
	_, url := newTestHub(t)
	url = "http" + strings.TrimPrefix(url, "ws")
	upgrade := map[string]string{
		"Connection": "Upgrade", "Upgrade": "websocket",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
	}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range upgrade {
			h[a] = b
		}
		h[k] = v
		return h
	}
	cases := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"no upgrade", nil, http.StatusUpgradeRequired},
		{"old version", with("Sec-WebSocket-Version", "8"), http.StatusUpgradeRequired},
		{"short key", with("Sec-WebSocket-Key", "c2hvcnQ="), http.StatusUpgradeRequired},
		{"key not base64", with("Sec-WebSocket-Key", "not base64 at all!!!!!!!"), http.StatusUpgradeRequired},
		{"foreign origin", with("Origin", "http://elsewhere.example"), http.StatusForbidden},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
}

// TestUpgradeKeepsEarlyFrames: a client that sends frames right behind its handshake,
// before the 101 (in the same packet here), has them answered; the upgrade hands over
// what fasthttp had buffered.
func TestUpgradeKeepsEarlyFrames(t *testing.T) {
	_, url := newTestHub(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	msg := append([]byte(req), clientFrame(`{"id":7,"op":"ping"}`)...)
	msg = append(msg, clientFrame(`{"id":8,"op":"ping"}`)...)
	if _, err := nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake answered %d %v", resp.StatusCode, resp.Header)
	}
	for _, id := range []string{"7", "8"} {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, hdr[1]&0x7f)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		if want := `{"id":` + id + `,"ok":true}`; hdr[0] != 0x81 || string(payload) != want {
			t.Fatalf("got frame %x %s, want %s", hdr[0], payload, want)
		}
	}
}

// clientFrame is payload as a masked text frame (payload under 126 bytes), as a client
// sends it.
func clientFrame(payload string) []byte {
	mask := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(payload)), mask[0], mask[1], mask[2], mask[3]}
	for i := range len(payload) {
		f = append(f, payload[i]^mask[i%4])
	}
	return f
}

// TestFanoutToManySubscribers: a topic with subscribers enough to be written by several
// goroutines; every subscriber gets every publication, once and in order, whether it was
// written straight from the fan-out or through its writer.
func TestFanoutToManySubscribers(t *testing.T) {
	h, url := newTestHub(t)
	const subs, pubs = 3*fanoutChunk + 10, 30
	clients := make([]*websocket.Conn, subs)
	for i := range clients {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"op":"subscribe","topic":"t.fan"}`)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, reply, err := c.ReadMessage(); err != nil || !bytes.Contains(reply, []byte(`"ok":true`)) {
			t.Fatalf("subscribe %d: %s %v", i, reply, err)
		}
		clients[i] = c
	}
	errs := make(chan error, subs)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := 1; want <= pubs; want++ {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, frame, err := c.ReadMessage()
				if err != nil {
					errs <- err
					return
				}
				var p struct {
					Offset string
					Data   struct{ N int }
				}
				if err := json.Unmarshal(frame, &p); err != nil || p.Data.N != want || p.Offset != fmt.Sprint(want) {
					errs <- fmt.Errorf("got %s, want publication %d (%v)", frame, want, err)
					return
				}
			}
		}()
	}
	for n := 1; n <= pubs; n++ {
		if err := h.Notify(context.Background(), "t.fan", fmt.Appendf(nil, `{"n":%d}`, n)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
