package ws

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/gateway/async"
)

var errNoEffects = errors.New("no effects backend: the function's events cannot be published")

// Mount serves GET /ws on app, after the handlers given (rate limits, say). It also sets the
// app's fasthttp server to keep hijacked connections, which the upgrade needs to hand
// fasthttp's request context and buffers back at once (upgrade.go); it matters to hijacked
// connections only, and only /ws hijacks. Call it before the app serves.
func (h *Hub) Mount(app *fiber.App, before ...fiber.Handler) {
	app.Server().KeepHijackedConns = true
	app.Get("/ws", append(before, h.handle)...)
}

// handle serves GET /ws. Requests that are not WebSocket upgrades (or carry a bad
// Sec-WebSocket-Version or Sec-WebSocket-Key) get 426; an Origin that is not allowed gets 403.
//
// The upgrade is done here rather than by gofiber/contrib/websocket, on the same
// fasthttp/websocket library, so that an idle connection keeps nothing of its HTTP request:
// contrib copies every header, cookie and query argument into maps of its own, and holds
// fasthttp's request context and read buffer until the connection ends. See upgrade.go.
func (h *Hub) handle(c *fiber.Ctx) error {
	if !websocket.FastHTTPIsWebSocketUpgrade(c.Context()) {
		return fiber.NewError(fiber.StatusUpgradeRequired, "GET /ws expects a WebSocket upgrade")
	}
	if !h.originAllowed(c.Get(fiber.HeaderOrigin), string(c.Request().Host())) {
		return fiber.NewError(fiber.StatusForbidden, "origin not allowed")
	}
	return h.upgrade(c)
}

// originAllowed checks a browser's Origin: the configured list, or else the same host.
func (h *Hub) originAllowed(origin, host string) bool {
	if origin == "" {
		return true // not a browser
	}
	if len(h.cfg.AllowedOrigins) == 0 {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, host)
	}
	for _, o := range h.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// serve runs one connection: it reads in this goroutine and writes in another, and returns
// only after the writer stopped, so the websocket is never touched after it returned. It
// closes the connection's socket, then gives back its slot of the connection caps (release).
func (h *Hub) serve(ws *websocket.Conn, w *wire, token, ip string, release func()) {
	defer release()
	defer w.Close()
	defer func() {
		if v := recover(); v != nil {
			h.cfg.Logger.Error("websocket handler panicked", "panic", v)
		}
	}()
	ctx, cancel := context.WithCancel(async.WithClientIP(context.Background(), ip))
	c := &conn{
		hub: h, ws: ws, wire: w, ctx: ctx, cancel: cancel, ip: ip,
		claims: map[string]any{"sub": ""},
		subs:   map[string]*subscription{},
	}
	c.out = newSendQueue(h.cfg.QueueMessages, h.cfg.QueueBytes, c.writeLoop)
	if !h.noDirect {
		c.out.direct = w.tryWrite
	}
	if !h.register(c) {
		cancel()
		msg := websocket.FormatCloseMessage(CloseGoingAway, "server going away")
		_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(h.cfg.WriteTimeout))
		return
	}
	defer h.unregister(c)
	// Pings go through the writer, which runs only when there is something to write.
	var ping atomic.Pointer[time.Timer]
	ping.Store(time.AfterFunc(h.cfg.PingInterval, func() {
		if ctx.Err() != nil {
			return // the connection ended: no more pings
		}
		c.out.pingDue()
		ping.Load().Reset(h.cfg.PingInterval)
	}))
	if token != "" {
		claims, err := h.verify(token)
		if err != nil {
			c.close(CloseUnauthorized, "unauthorized: "+err.Error())
		} else {
			c.mu.Lock()
			c.setClaimsLocked(claims)
			c.mu.Unlock()
		}
	}
	c.readLoop()
	cancel()
	ping.Load().Stop()
	<-c.out.stop()
	c.mu.Lock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for _, sub := range subs {
		h.registry.remove(sub)
	}
}

// verify checks a connection's token.
func (h *Hub) verify(token string) (map[string]any, error) {
	if !h.cfg.Auth.Enabled() {
		return nil, errors.New("this server verifies no tokens")
	}
	return h.cfg.Auth.Verify(token)
}
