package ws

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

// serveHub runs h's handler on a loopback port and returns the /ws URL.
func serveHub(t testing.TB, h *Hub) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { _ = app.Shutdown() })
	return "ws://" + ln.Addr().String() + "/ws"
}

// TestPingsAndIdleClose: the server pings on its interval; a client that answers (pongs)
// stays connected well past the idle timeout, one that stays silent is closed after it.
func TestPingsAndIdleClose(t *testing.T) {
	topics := memory.NewTopics(triggers.HistoryOptions{})
	t.Cleanup(func() { topics.Close() })
	h, err := New(Config{Topics: topics, PingInterval: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	url := serveHub(t, h)

	// A live client: gorilla answers pings while it reads.
	live, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	var pings atomic.Int64
	live.SetPingHandler(func(data string) error {
		pings.Add(1)
		return live.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	// A silent client: it reads (so it sees the pings and the close) but never pongs.
	silent, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetPingHandler(func(string) error { return nil })

	liveEnded := make(chan error, 1)
	go func() {
		for {
			if _, _, err := live.ReadMessage(); err != nil {
				liveEnded <- err
				return
			}
		}
	}()
	start := time.Now()
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = silent.ReadMessage()
	if isTimeout(err) {
		t.Fatalf("the silent client was not closed within 5s of a 300ms idle timeout")
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("the silent client was closed after %s, well before the 300ms idle timeout (%v)", took, err)
	}
	// The live client outlasts three idle timeouts, pinged all along.
	select {
	case err := <-liveEnded:
		t.Fatalf("the live client was closed: %v", err)
	case <-time.After(900 * time.Millisecond):
	}
	if n := pings.Load(); n < 5 {
		t.Fatalf("the live client got %d pings in over a second at a 50ms interval", n)
	}
}
