package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// The connect and disconnect functions of a connection (docs/websocket.md#functions).
//
// A connect function runs once per connection, before the client's first frame is handled:
// at once when the URL's token was verified; otherwise when the first frame arrives (after
// it, when it is an auth whose token was verified), or when AuthWait passed without one.
// It runs on the reader's goroutine, or on the AuthWait timer's while the reader waits for
// it, so the frames the client sends meanwhile wait in the socket and none is lost.

// connectAnswer is the JSON body of a connect function's success.
type connectAnswer struct {
	Claims map[string]any  `json:"claims"`
	Info   json.RawMessage `json:"info"`
	Data   json.RawMessage `json:"data"`
}

// startConnect runs the connect function unless it was started already: when AuthWait
// passed without a first frame.
func (c *conn) startConnect() {
	if c.connectOnce.CompareAndSwap(false, true) {
		c.connectNow()
	}
}

// runConnect runs the connect function, which nothing started yet.
func (c *conn) runConnect() {
	c.connectOnce.Store(true)
	c.connectNow()
}

// beforeFirstFrame runs the connect function before the client's first frame: after it
// when it is an auth (which it handles then). It reports whether frame is still to be
// handled.
func (c *conn) beforeFirstFrame(frame []byte) bool {
	if !c.connectOnce.CompareAndSwap(false, true) {
		<-c.connectDone // AuthWait started it
		return true
	}
	if r, _ := decodeRequest(frame); r != nil && r.Op == "auth" {
		c.handle(frame)
		if c.out.closingCode() != 0 {
			c.refused.Store(true)
			close(c.connectDone) // a bad token: closing with 4001
			return false
		}
		c.connectNow()
		return false
	}
	c.connectNow()
	return true
}

// connectNow invokes the connect function and carries out its answer: new claims, the
// connected frame, or a close (4001 or 4003 for a refusal, 1011 for a failure).
func (c *conn) connectNow() {
	defer close(c.connectDone)
	f := c.connect
	ev := c.event(typePrefix+manifest.WSConnect, "websocket", nil)
	o := c.call(c.ctx, manifest.WSConnect, "", f.fn, ev)
	switch {
	case o.ok():
		var a connectAnswer
		if body := bytes.TrimSpace(o.body); len(body) > 0 {
			if err := json.Unmarshal(body, &a); err != nil {
				c.hub.cfg.Logger.Warn("websocket connect function answered what is not a JSON object", "function", f.fn.Name(), "error", err)
				c.refuse(CloseServerError, "connect failed: server error")
				return
			}
		}
		if a.Claims != nil {
			c.mu.Lock()
			c.setClaimsLocked(a.Claims)
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.info = a.Info
		c.mu.Unlock()
		var data []byte
		if a.Data != nil {
			data = jsonData(a.Data)
		}
		c.accepted.Store(true)
		c.send(encodeConnected(c.id, data))
	case o.status == 401:
		c.refuse(CloseUnauthorized, o.message)
	case o.status >= 400 && o.status < 500:
		c.refuse(CloseForbidden, o.message)
	default:
		c.refuse(CloseServerError, "connect failed: server error")
	}
}

// refuse closes a connection that is not (or no longer) accepted; no more of its frames are
// handled and it gets no disconnect.
func (c *conn) refuse(code int, reason string) {
	c.accepted.Store(false)
	c.refused.Store(true)
	c.close(code, reason)
}

// disconnected runs the disconnect functions of a connection that ended, once, after its
// socket closed, on a goroutine of their own that Close waits for.
func (h *Hub) disconnected(c *conn) {
	fs := h.funcs.Load().disconnect
	if len(fs) == 0 || !c.accepted.Load() {
		return
	}
	code, reason := c.closeStatus()
	data, _ := json.Marshal(map[string]any{
		"code": code, "reason": reason, "durationMs": time.Since(c.start).Milliseconds(),
	})
	h.wg.Add(1) // the connection's own slot is still held: Close cannot have seen zero
	go func() {
		defer h.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				h.cfg.Logger.Error("websocket disconnect panicked", "panic", v)
			}
		}()
		for _, f := range fs {
			ev := c.event(typePrefix+manifest.WSDisconnect, "websocket", data)
			c.call(context.Background(), manifest.WSDisconnect, "", f.fn, ev)
		}
	}()
}

// closeStatus is how a connection ended: the close the server sent, else the client's, else
// 1006 (the connection dropped without a close).
func (c *conn) closeStatus() (int, string) {
	if code, reason := c.out.closedWith(); code != 0 {
		return code, reason
	}
	var ce *websocket.CloseError
	if errors.As(c.readErr, &ce) {
		return ce.Code, ce.Text
	}
	return websocket.CloseAbnormalClosure, ""
}
