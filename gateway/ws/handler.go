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
	"github.com/edgefn/edgefn/internal/id"
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
// The connect function of the connection runs before its first frame is handled
// (connect.go), its disconnect functions once it ended.
func (h *Hub) serve(ws *websocket.Conn, w *wire, hs greeting, release func()) {
	defer release()
	defer w.Close()
	defer func() {
		if v := recover(); v != nil {
			h.cfg.Logger.Error("websocket handler panicked", "panic", v)
		}
	}()
	ctx, cancel := context.WithCancel(async.WithClientIP(context.Background(), hs.ip))
	c := &conn{
		hub: h, ws: ws, wire: w, ctx: ctx, cancel: cancel, ip: hs.ip,
		id: id.New(), origin: hs.origin, userAgent: hs.userAgent, cookie: hs.cookie, start: time.Now(),
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
	c.connect = h.funcs.Load().connect
	if c.connect == nil {
		c.accepted.Store(true)
	} else {
		c.connectDone = make(chan struct{})
	}
	verified := true
	if hs.token != "" {
		claims, err := h.verify(hs.token)
		if err != nil {
			verified = false
			c.refuse(CloseUnauthorized, "unauthorized: "+err.Error())
		} else {
			c.mu.Lock()
			c.setClaimsLocked(claims)
			c.mu.Unlock()
		}
	}
	var authWait *time.Timer
	switch {
	case c.connect == nil:
	case !verified:
		c.connectOnce.Store(true) // never runs
		close(c.connectDone)
	case hs.token != "":
		c.runConnect() // the frames the client sent meanwhile wait in the socket
	default:
		authWait = time.AfterFunc(h.cfg.AuthWait, c.startConnect)
	}
	c.readLoop()
	cancel()
	ping.Load().Stop()
	if c.connect != nil {
		if authWait != nil {
			authWait.Stop()
		}
		if c.connectOnce.CompareAndSwap(false, true) {
			close(c.connectDone) // it never ran
		}
		<-c.connectDone
	}
	c.rpcWG.Wait()
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
	h.disconnected(c)
}

// verify checks a connection's token.
func (h *Hub) verify(token string) (map[string]any, error) {
	if !h.cfg.Auth.Enabled() {
		return nil, errors.New("this server verifies no tokens")
	}
	return h.cfg.Auth.Verify(token)
}
