package ws

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

var errNoEffects = errors.New("no effects backend: the function's events cannot be published")

// writeBuffers is shared by all connections: an idle connection holds no write buffer.
var writeBuffers = &sync.Pool{}

// Handler returns the Fiber handler of GET /ws. Requests that are not WebSocket upgrades
// get 426; an Origin that is not allowed gets 403.
func (h *Hub) Handler() fiber.Handler {
	upgrade := fws.New(h.serve, fws.Config{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: writeBuffers,
		RecoverHandler: func(c *fws.Conn) {
			if v := recover(); v != nil {
				h.cfg.Logger.Error("websocket handler panicked", "panic", v)
			}
		},
	})
	return func(c *fiber.Ctx) error {
		if !fws.IsWebSocketUpgrade(c) {
			return fiber.NewError(fiber.StatusUpgradeRequired, "GET /ws expects a WebSocket upgrade")
		}
		if !h.originAllowed(c.Get(fiber.HeaderOrigin), string(c.Request().Host())) {
			return fiber.NewError(fiber.StatusForbidden, "origin not allowed")
		}
		return upgrade(c)
	}
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
// only after the writer stopped, so the websocket is never touched after it returned.
func (h *Hub) serve(wc *fws.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		hub: h, ws: wc.Conn, ctx: ctx, cancel: cancel, ip: wc.IP(),
		claims: map[string]any{"sub": ""},
		subs:   map[string]*subscription{},
	}
	c.out = newSendQueue(h.cfg.QueueMessages, h.cfg.QueueBytes, c.writeLoop)
	if !h.register(c) {
		cancel()
		msg := websocket.FormatCloseMessage(CloseGoingAway, "server going away")
		_ = wc.WriteControl(websocket.CloseMessage, msg, time.Now().Add(h.cfg.WriteTimeout))
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
	if token := wc.Query("token"); token != "" {
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
