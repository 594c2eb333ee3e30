package ws

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// conn is one client connection. Its handler goroutine reads and handles the client's
// frames; one writer goroutine writes what the send queue holds. Nothing touches the
// websocket after the handler returned: the handler waits for the writer first.
type conn struct {
	hub *Hub
	ws  *websocket.Conn
	out *sendQueue
	// ctx ends when the connection does; operations in flight (history reads, function
	// invocations) use it.
	ctx    context.Context
	cancel context.CancelFunc
	ip     string

	mu     sync.Mutex
	claims map[string]any // {"sub": ""} until authenticated
	authed bool
	expiry *time.Timer
	subs   map[string]*subscription
}

// send queues a frame for the writer. A full queue closes the connection with 4008.
func (c *conn) send(frame []byte) {
	if _, overflow := c.out.push(frame); overflow {
		c.hub.slowDisconnect(c)
	}
}

// close makes the writer send a close frame after what is queued, then end the connection.
func (c *conn) close(code int, reason string) {
	c.out.close(code, reason, false)
}

// writeLoop writes what is queued (frames, then a due ping, then a close) and returns when
// the queue is empty: the queue starts it again when something comes. It owns all data
// writes; control frames (pong replies, the 1009 close) go through WriteControl, which is
// safe beside it.
func (c *conn) writeLoop() {
	cfg := &c.hub.cfg
	for {
		frames, ping, closing, idle := c.out.take()
		if idle {
			return
		}
		for _, f := range frames {
			_ = c.ws.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
				if isTimeout(err) {
					c.hub.slowDisconnect(c)
				}
				c.out.finish()
				c.abort()
				return
			}
		}
		if ping && closing == nil {
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				c.out.finish()
				c.abort()
				return
			}
		}
		if closing != nil {
			msg := websocket.FormatCloseMessage(closing.code, closing.reason)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(cfg.WriteTimeout))
			// The reader ends when the client answers the close, or soon after.
			_ = c.ws.SetReadDeadline(time.Now().Add(cfg.CloseWait))
			c.out.finish()
			return
		}
	}
}

// abort ends the connection without a close handshake: the reader fails at once.
func (c *conn) abort() {
	_ = c.ws.SetReadDeadline(time.Now())
	c.cancel()
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// readLoop reads frames until the client goes away, the connection closes, or a frame
// breaks the rules (too big: 1009, binary: 4400).
func (c *conn) readLoop() {
	cfg := &c.hub.cfg
	c.ws.SetReadLimit(int64(cfg.MaxFrame))
	_ = c.ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
	})
	c.ws.SetPingHandler(func(data string) error {
		_ = c.ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.WriteTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) && !isTimeout(err) {
			return err
		}
		return nil
	})
	for {
		mt, frame, err := c.ws.ReadMessage()
		if err != nil {
			return // websocket sends the 1009 of an oversized frame itself
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		if mt != websocket.TextMessage {
			c.close(CloseBadFrame, "binary frames are not part of the protocol")
			continue
		}
		c.handle(frame)
	}
}
