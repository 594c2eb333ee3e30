package ws

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/gateway/guard"
)

// The upgrade, done by hand so that an idle connection holds as little as possible:
//
//   - the handler checks the handshake, keeps the token and the client's IP (copies), and
//     hijacks the connection with no HTTP response of fasthttp's;
//   - the hijack handler takes the raw socket (fasthttp's hijacked connection reads through
//     the server's request buffer), carries over any byte the client sent early, builds the
//     websocket.Conn on it with fasthttp/websocket's net/http Upgrader (the library makes a
//     Conn only through an upgrade; a stand-in ResponseWriter, handshake, hands it the
//     socket, and it writes the 101 answer), starts the connection's goroutine and returns. fasthttp then releases its request
//     context and its read buffer (16 KiB, one touched page) to its pools; that needs its
//     KeepHijackedConns, which Mount sets.
//
// The websocket.Conn writes through a wire (wire.go), which lets a publication be written
// straight from the fan-out when the socket takes it at once.

// upgrader builds the websocket.Conn once the handshake was checked. Its read buffer is
// small (inbound frames are rare requests; larger ones are read in several calls) and it
// never allocates a write buffer: data frames are encoded by the hub and written whole, and
// control frames use a buffer of their own.
var upgrader = websocket.Upgrader{
	ReadBufferSize:  512,
	WriteBufferSize: 256,
	WriteBufferPool: &sync.Pool{},
	// The Origin was checked by the Fiber handler, against --allowed-origins.
	CheckOrigin: func(*http.Request) bool { return true },
}

// upgrade checks the handshake and the connection caps, and hijacks the connection (see
// above). A client at its cap (MaxConnsPerIP) gets 429; when the hub is full (MaxConns) the
// connection is upgraded and closed with 1013 (refuseFull).
func (h *Hub) upgrade(c *fiber.Ctx) error {
	if !strings.EqualFold(strings.TrimSpace(c.Get("Sec-WebSocket-Version")), "13") {
		return fiber.NewError(fiber.StatusUpgradeRequired, "unsupported WebSocket version: want Sec-WebSocket-Version: 13")
	}
	key := strings.TrimSpace(c.Get("Sec-WebSocket-Key"))
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return fiber.NewError(fiber.StatusUpgradeRequired, "bad Sec-WebSocket-Key: want 16 bytes in base64")
	}
	addr := h.cfg.ClientIP.Of(c)
	err := h.limit.Acquire(addr)
	if errors.Is(err, guard.ErrClientConns) {
		return fiber.NewError(fiber.StatusTooManyRequests,
			"too many WebSocket connections from this client: at most "+strconv.Itoa(h.cfg.MaxConnsPerIP))
	}
	// The slot taken is given back when the connection ends (serve) or the upgrade fails.
	// fasthttp runs the hijack handler of every handler that returns nil, unless resetting the
	// socket's deadlines fails, which a live socket does not.
	counted := err == nil
	release := func() {
		if counted {
			h.limit.Release(addr)
		}
	}
	key = strings.Clone(key)
	hs := greeting{
		token: strings.Clone(c.Query("token")), ip: addr.String(),
		origin: strings.Clone(c.Get(fiber.HeaderOrigin)), userAgent: strings.Clone(c.Get(fiber.HeaderUserAgent)),
		cookie: strings.Clone(c.Get(fiber.HeaderCookie)),
	}
	ip := hs.ip
	ctx := c.Context()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(hc net.Conn) {
		w, err := hijacked(hc)
		if err != nil {
			release()
			h.cfg.Logger.Warn("websocket upgrade failed", "ip", ip, "error", err)
			_ = hc.Close()
			return
		}
		ws, err := upgrader.Upgrade(&handshake{w: w}, &http.Request{
			Method: http.MethodGet,
			Header: http.Header{
				"Connection":            {"Upgrade"},
				"Upgrade":               {"websocket"},
				"Sec-Websocket-Version": {"13"},
				"Sec-Websocket-Key":     {key},
			},
		}, nil)
		if err != nil {
			release()
			h.cfg.Logger.Warn("websocket upgrade failed", "ip", ip, "error", err)
			_ = w.Close()
			return
		}
		if !counted {
			h.refuseFull(ws, w, ip)
			return
		}
		go h.serve(ws, w, hs, release)
	})
	return nil
}

// greeting is what a connection keeps of its handshake (copies): the token of its URL, the
// client's IP, and the headers its functions' events carry.
type greeting struct {
	token, ip, origin, userAgent, cookie string
}

// refuseFull closes a connection the full hub upgraded with 1013, waits (up to CloseWait) for
// the client's answer, and drops it. It runs on the hijack's own goroutine: nothing of the
// hub is held.
func (h *Hub) refuseFull(ws *websocket.Conn, w *wire, ip string) {
	defer w.Close()
	if last := h.fullLogged.Load(); time.Since(time.Unix(0, last)) > 10*time.Second &&
		h.fullLogged.CompareAndSwap(last, time.Now().UnixNano()) {
		h.cfg.Logger.Warn("websocket connections at their cap; refusing new ones with 1013 (--ws-max-conns)",
			"max", h.cfg.MaxConns, "ip", ip)
	}
	msg := websocket.FormatCloseMessage(CloseTryLater, "too many connections: try again later")
	if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(h.cfg.WriteTimeout)); err != nil {
		return
	}
	ws.SetReadLimit(512)
	_ = ws.SetReadDeadline(time.Now().Add(h.cfg.CloseWait))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			return
		}
	}
}

// hijacked returns the wire of a hijacked connection: its raw socket, and what fasthttp's
// buffer already holds of what the client sent after its request (a conforming client waits
// for the 101, but nothing it sent is dropped).
func hijacked(hc net.Conn) (*wire, error) {
	raw := hc
	if u, ok := hc.(interface{ UnsafeConn() net.Conn }); ok {
		raw = u.UnsafeConn()
	}
	var early []byte
	if raw != hc {
		// A deadline in the past makes the read return what fasthttp buffered, and no more.
		if err := hc.SetReadDeadline(time.Now()); err != nil {
			return nil, err
		}
		buf := make([]byte, 512)
		for {
			n, err := hc.Read(buf)
			early = append(early, buf[:n]...)
			if err != nil || n == 0 {
				break
			}
		}
		if err := raw.SetReadDeadline(time.Time{}); err != nil {
			return nil, err
		}
	}
	return newWire(raw, early), nil
}

// handshake is the http.ResponseWriter through which websocket.Upgrader takes the
// connection: nothing but its Hijack is used once the handshake was checked.
type handshake struct {
	w      *wire
	header http.Header
}

func (r *handshake) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

// Write and WriteHeader are only reached by an upgrade that failed before the hijack,
// which the checks of the Fiber handler rule out; the connection is closed then.
func (r *handshake) Write([]byte) (int, error) { return 0, errNoResponse }
func (r *handshake) WriteHeader(int)           {}

func (r *handshake) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return r.w, bufio.NewReadWriter(bufio.NewReaderSize(r.w, 16), bufio.NewWriterSize(r.w, 256)), nil
}

var errNoResponse = errors.New("the upgrade has no HTTP response")
