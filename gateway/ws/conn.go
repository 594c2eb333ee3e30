package ws

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
)

// conn is one client connection. Its handler goroutine reads and handles the client's
// frames. A frame sent to it goes out at once from the sender's goroutine when the socket
// takes it whole without waiting; otherwise it waits in the send queue for the writer
// goroutine, which runs only while there is something to write. Nothing touches the
// websocket after the handler returned: the handler waits for the writer first, and the
// wire takes no direct write once closed.
type conn struct {
	hub  *Hub
	ws   *websocket.Conn
	wire *wire // under ws; frames of the send queue are written to it directly
	out  *sendQueue
	// ctx ends when the connection does; operations in flight (history reads, function
	// invocations) use it.
	ctx    context.Context
	cancel context.CancelFunc
	ip     string
	// id names the connection to its functions (the events' Subject) and to the client.
	id string
	// origin, userAgent and cookie are the handshake's headers, for functions' events.
	origin, userAgent, cookie string
	start                     time.Time

	// connect is the connect function of the connection, decided when it started; nil when
	// none runs (connect.go).
	connect     *wsFunc
	connectOnce atomic.Bool   // the connect function was started, or will never be
	connectDone chan struct{} // closed when it returned
	// accepted is set when the connection counts as connected: at once without a connect
	// function, else when it accepted the client. Only accepted connections get a
	// disconnect.
	accepted atomic.Bool
	// refused is set when the connection is closing without being accepted: no frame of the
	// client is handled any more.
	refused atomic.Bool
	// readErr is why the reader stopped, for the disconnect's close code.
	readErr error

	// rpcs bounds the rpc calls in flight (MaxRPCs), made at the first; rpcWG counts them.
	rpcs  chan struct{}
	rpcWG sync.WaitGroup

	mu     sync.Mutex
	claims map[string]any // {"sub": ""} until authenticated
	authed bool
	expiry *time.Timer
	subs   map[string]*subscription
	// info is what the connect function said of the client, for presence.
	info json.RawMessage
}

// send sends payload as a text frame. A full queue closes the connection with 4008.
func (c *conn) send(payload []byte) {
	c.sendFrame(textFrame(payload))
}

// sendFrame writes a whole frame (textFrame) at once when the socket takes it, or queues it
// for the writer. A full queue closes the connection with 4008.
func (c *conn) sendFrame(frame []byte) {
	if _, overflow := c.out.push(frame); overflow {
		c.hub.slowDisconnect(c)
	}
}

// close makes the writer send a close frame after what is queued, then end the connection.
func (c *conn) close(code int, reason string) {
	c.out.close(code, reason, false)
}

// writeLoop writes what is queued (what a direct write left, frames, then a due ping, then
// a close) and returns when the queue is empty: the queue starts it again when something
// comes. It owns all queued writes; control frames (pong replies, the 1009 close) go
// through WriteControl, which is safe beside it: every write goes through the wire's lock.
func (c *conn) writeLoop() {
	cfg := &c.hub.cfg
	for {
		frames, ping, closing, idle := c.out.take()
		if idle {
			return
		}
		_ = c.wire.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		var err error
		if len(frames) > 0 {
			err = c.wire.writeFrames(frames)
		} else {
			err = c.wire.flush()
		}
		if err != nil {
			if isTimeout(err) {
				c.hub.slowDisconnect(c)
			}
			c.out.finish()
			c.abort()
			return
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
// breaks the rules (too big: 1009, binary: 4400, not UTF-8: 1007). A text frame must be
// UTF-8 (RFC 6455, 8.1): one that is not is never handled, so nothing of it is published to
// browsers, which drop their connection on a frame that is not (docs/websocket.md).
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
	first := c.connect != nil
	for {
		mt, frame, err := c.ws.ReadMessage()
		if err != nil {
			c.readErr = err
			return // websocket sends the 1009 of an oversized frame itself
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		if mt != websocket.TextMessage {
			c.close(CloseBadFrame, "binary frames are not part of the protocol")
			continue
		}
		if !utf8.Valid(frame) {
			c.close(CloseInvalidData, "text frames must be UTF-8")
			continue
		}
		if first {
			first = false
			if !c.beforeFirstFrame(frame) {
				continue
			}
		}
		if c.refused.Load() {
			continue // the connect function refused the client: its close is on its way
		}
		c.handle(frame)
	}
}
