// Command rawws is the baseline of edgefn's WebSocket benchmarks: the WebSocket fan-out a
// developer would write by hand with Fiber and gofiber/contrib/websocket, speaking just
// enough of edgefn's protocol (docs/websocket.md) for bench/cmd/wsbench to drive both servers alike.
//
// A map from topic to its set of connections sits under one RWMutex; each connection has a
// buffered channel of frames and a writer goroutine, as in gorilla/websocket's chat example,
// and a client whose channel is full is disconnected. There is no authentication, no topic
// rules and no history: offsets count the publications of a topic while it has subscribers.
//
//	GET /ws                 → {"id":1,"op":"subscribe","topic":"t"}   ← {"id":1,"ok":true,"epoch":"raw","offset":"0"}
//	                        ← {"topic":"t","offset":"1","data":{...}}  (a publication)
//	                        → {"id":2,"op":"unsubscribe","topic":"t"}, {"id":3,"op":"ping"}
//	POST /admin/v1/publish  {"topic":"t","data":{...}}                 ← 200 {"topic":"t"}
//	GET /healthz            200
package main

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/edgefn/edgefn/bench/internal/rawserve"
	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// The connection's timings and bounds, those of edgefn's defaults.
const (
	sendBuffer   = 256 // frames queued for a client before it counts as slow
	writeTimeout = 10 * time.Second
	idleTimeout  = 60 * time.Second
	pingInterval = 25 * time.Second
	maxFrame     = 64 << 10
)

func main() {
	rawserve.Main("rawws", "127.0.0.1:8082", func(app *fiber.App) {
		h := &hub{topics: map[string]*topic{}}
		app.Post("/admin/v1/publish", h.publishHTTP)
		app.Get("/ws", fws.New(h.serve))
	})
}

// hub maps topics to their subscribers.
type hub struct {
	mu     sync.RWMutex
	topics map[string]*topic
}

// topic is one topic's subscribers. Its mutex keeps the publications of the topic in offset
// order when several publishers publish to it at once.
type topic struct {
	mu     sync.Mutex
	offset uint64
	subs   map[*client]struct{}
}

// client is one connection.
type client struct {
	ws   *fws.Conn
	send chan []byte
	done chan struct{} // closed once: the writer stops and the reader is woken up
	once sync.Once
	subs map[string]struct{} // the reader's own
}

func (c *client) stop() { c.once.Do(func() { close(c.done) }) }

// queue hands frame to the writer without blocking; a client that does not keep up is stopped.
func (c *client) queue(frame []byte) {
	select {
	case c.send <- frame:
	default:
		c.stop()
	}
}

// serve runs one connection: it reads in this goroutine and writes in another, and returns
// after the writer ended, since the connection is reused once it returns.
func (h *hub) serve(ws *fws.Conn) {
	c := &client{ws: ws, send: make(chan []byte, sendBuffer), done: make(chan struct{}), subs: map[string]struct{}{}}
	writerDone := make(chan struct{})
	go c.writeLoop(writerDone)
	ws.SetReadLimit(maxFrame)
	_ = ws.SetReadDeadline(time.Now().Add(idleTimeout))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(idleTimeout)) })
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			break
		}
		_ = ws.SetReadDeadline(time.Now().Add(idleTimeout))
		h.handle(c, msg)
	}
	h.mu.Lock()
	for name := range c.subs {
		h.removeLocked(name, c)
	}
	h.mu.Unlock()
	c.stop()
	<-writerDone
}

func (c *client) writeLoop(done chan<- struct{}) {
	defer close(done)
	// Wake the reader, whatever ended the writer.
	defer func() { _ = c.ws.SetReadDeadline(time.Now()) }()
	defer c.stop()
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case frame := <-c.send:
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				return
			}
		case <-c.done:
			return
		}
	}
}

// request is a client frame.
type request struct {
	ID    json.RawMessage `json:"id"`
	Op    string          `json:"op"`
	Topic string          `json:"topic"`
}

func (h *hub) handle(c *client, msg []byte) {
	var r request
	if err := json.Unmarshal(msg, &r); err != nil {
		c.queue(errorReply(nil, "bad_request", "frame is not JSON"))
		return
	}
	switch r.Op {
	case "subscribe":
		h.subscribe(c, r)
	case "unsubscribe":
		h.mu.Lock()
		h.removeLocked(r.Topic, c)
		h.mu.Unlock()
		delete(c.subs, r.Topic)
		c.queue(okReply(r.ID, ""))
	case "ping":
		c.queue(okReply(r.ID, ""))
	default:
		c.queue(errorReply(r.ID, "unknown_op", "unknown op"))
	}
}

// subscribe adds c to the topic and queues the reply under the write lock, so that no
// publication overtakes it.
func (h *hub) subscribe(c *client, r request) {
	if r.Topic == "" {
		c.queue(errorReply(r.ID, "bad_request", "topic is required"))
		return
	}
	if _, dup := c.subs[r.Topic]; dup {
		c.queue(errorReply(r.ID, "already_subscribed", "already subscribed"))
		return
	}
	c.subs[r.Topic] = struct{}{}
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[r.Topic]
	if t == nil {
		t = &topic{subs: map[*client]struct{}{}}
		h.topics[r.Topic] = t
	}
	t.subs[c] = struct{}{}
	c.queue(okReply(r.ID, strconv.FormatUint(t.offset, 10)))
}

func (h *hub) removeLocked(name string, c *client) {
	t := h.topics[name]
	if t == nil {
		return
	}
	delete(t.subs, c)
	if len(t.subs) == 0 {
		delete(h.topics, name)
	}
}

// publishRequest is the body of POST /admin/v1/publish.
type publishRequest struct {
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
}

func (h *hub) publishHTTP(c *fiber.Ctx) error {
	var req publishRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil || req.Topic == "" || len(req.Data) == 0 {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": fiber.Map{"code": "bad_request", "message": "want {topic, data}"}})
	}
	h.publish(req.Topic, req.Data)
	return c.JSON(fiber.Map{"topic": req.Topic})
}

// publish queues one frame, encoded once, for every subscriber of the topic.
func (h *hub) publish(name string, data []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.topics[name]
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.offset++
	frame := publication(name, t.offset, data)
	for c := range t.subs {
		c.queue(frame)
	}
}

func publication(topic string, offset uint64, data []byte) []byte {
	name, _ := json.Marshal(topic)
	b := make([]byte, 0, len(name)+len(data)+40)
	b = append(b, `{"topic":`...)
	b = append(b, name...)
	b = append(b, `,"offset":"`...)
	b = strconv.AppendUint(b, offset, 10)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

func okReply(id json.RawMessage, offset string) []byte {
	b := []byte{'{'}
	if len(id) > 0 {
		b = append(append(append(b, `"id":`...), id...), ',')
	}
	b = append(b, `"ok":true`...)
	if offset != "" {
		b = append(append(append(b, `,"epoch":"raw","offset":"`...), offset...), '"')
	}
	return append(b, '}')
}

func errorReply(id json.RawMessage, code, message string) []byte {
	out, _ := json.Marshal(struct {
		ID    json.RawMessage   `json:"id,omitempty"`
		OK    bool              `json:"ok"`
		Error map[string]string `json:"error"`
	}{id, false, map[string]string{"code": code, "message": message}})
	return out
}
