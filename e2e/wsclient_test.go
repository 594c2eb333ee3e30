package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// wsFrame is any server frame: a reply (ID set) or a publication (Topic set).
type wsFrame struct {
	ID           json.RawMessage `json:"id"`
	OK           bool            `json:"ok"`
	Error        *wsError        `json:"error"`
	Epoch        string          `json:"epoch"`
	Offset       string          `json:"offset"`
	Recovered    *bool           `json:"recovered"`
	Publications []wsPub         `json:"publications"`
	Topic        string          `json:"topic"`
	Data         json.RawMessage `json:"data"`
	// Connected is the frame of a connect function's success (no id, no topic).
	Connected *wsConnected `json:"connected"`
	// Join and Leave are the presence frames of a joinLeave topic (with Topic, no id).
	Join  *wsMember `json:"join"`
	Leave *wsMember `json:"leave"`
	// Unsubscribed ends a subscription the topic rules no longer allow (with Topic, no id).
	Unsubscribed *wsError `json:"unsubscribed"`
	// Members and Cursor are a presence reply; Clients and Users a presence_stats reply.
	Members []wsMember `json:"members"`
	Cursor  string     `json:"cursor"`
	Clients int        `json:"clients"`
	Users   int        `json:"users"`
	// seq numbers the frames of a connection in the order they arrived, from 1.
	seq int
}

type wsConnected struct {
	Client string          `json:"client"`
	Data   json.RawMessage `json:"data"`
}

type wsMember struct {
	Client string          `json:"client"`
	Sub    string          `json:"sub"`
	Info   json.RawMessage `json:"info"`
}

type wsError struct {
	Code    string `json:"code"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

type wsPub struct {
	Offset string          `json:"offset"`
	Data   json.RawMessage `json:"data"`
}

// wsClient is a test's WebSocket client: a reader goroutine sorts frames into replies and
// publications, and records how the connection ended.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn

	writeMu sync.Mutex
	nextID  int

	mu       sync.Mutex
	replies  map[string]chan wsFrame
	pubs     chan wsFrame
	done     chan struct{}
	closeErr error
}

// wsURL is the /ws URL of g with the query q (may be empty).
func wsURL(g *gateway, q string) string {
	u := "ws://" + g.Addr + "/ws"
	if q != "" {
		u += "?" + q
	}
	return u
}

// dialWS connects to url and starts reading.
func dialWS(t testing.TB, url string, header http.Header) *wsClient {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	return startWSClient(t, conn)
}

func startWSClient(t testing.TB, conn *websocket.Conn) *wsClient {
	c := &wsClient{t: t, conn: conn, replies: map[string]chan wsFrame{}, pubs: make(chan wsFrame, 100_000), done: make(chan struct{})}
	t.Cleanup(func() { conn.Close(); <-c.done })
	go c.read()
	return c
}

func (c *wsClient) read() {
	defer close(c.done)
	for seq := 1; ; seq++ {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.closeErr = err
			c.mu.Unlock()
			return
		}
		var f wsFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.t.Errorf("server sent a frame that is not JSON: %q", data)
			continue
		}
		f.seq = seq
		if f.Topic != "" && f.ID == nil {
			c.pubs <- f
			continue
		}
		c.mu.Lock()
		ch := c.replies[string(f.ID)]
		if ch == nil {
			ch = make(chan wsFrame, 1)
			c.replies[string(f.ID)] = ch
		}
		c.mu.Unlock()
		ch <- f
	}
}

// sendRaw writes a text frame as is.
func (c *wsClient) sendRaw(frame string) {
	c.t.Helper()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// request sends req with a fresh id and waits for its reply.
func (c *wsClient) request(req map[string]any) wsFrame {
	c.t.Helper()
	c.writeMu.Lock()
	c.nextID++
	id := c.nextID
	c.writeMu.Unlock()
	req["id"] = id
	b, _ := json.Marshal(req)
	c.sendRaw(string(b))
	return c.reply(strconv.Itoa(id))
}

// reply waits for the reply whose raw id is id ("" for replies without an id).
func (c *wsClient) reply(id string) wsFrame {
	c.t.Helper()
	c.mu.Lock()
	ch := c.replies[id]
	if ch == nil {
		ch = make(chan wsFrame, 1)
		c.replies[id] = ch
	}
	c.mu.Unlock()
	take := func(f wsFrame) wsFrame {
		c.mu.Lock()
		delete(c.replies, id)
		c.mu.Unlock()
		return f
	}
	select {
	case f := <-ch:
		return take(f)
	case <-c.done:
		// The reader hands a reply over before it sees the close that follows it: when both
		// are there, select may pick either.
		select {
		case f := <-ch:
			return take(f)
		default:
		}
		c.t.Fatalf("connection ended before the reply to %s: %v", id, c.err())
	case <-time.After(10 * time.Second):
		c.t.Fatalf("no reply to %s within 10s", id)
	}
	return wsFrame{}
}

// mustOK sends req and fails the test unless it succeeds.
func (c *wsClient) mustOK(req map[string]any) wsFrame {
	c.t.Helper()
	f := c.request(req)
	if !f.OK {
		c.t.Fatalf("%v: %+v", req, f.Error)
	}
	return f
}

// refused sends req and checks that it fails with code.
func (c *wsClient) refused(req map[string]any, code string) {
	c.t.Helper()
	f := c.request(req)
	if f.OK || f.Error == nil || f.Error.Code != code {
		c.t.Fatalf("%v: got ok=%v error=%+v, want error %s", req, f.OK, f.Error, code)
	}
}

// publication waits for the next publication.
func (c *wsClient) publication(d time.Duration) wsFrame {
	c.t.Helper()
	select {
	case f := <-c.pubs:
		return f
	case <-c.done:
		select {
		case f := <-c.pubs:
			return f
		default:
		}
		c.t.Fatalf("connection ended while waiting for a publication: %v", c.err())
	case <-time.After(d):
		c.t.Fatalf("no publication within %s", d)
	}
	return wsFrame{}
}

// noPublication checks that nothing arrives within d.
func (c *wsClient) noPublication(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.pubs:
		c.t.Fatalf("unexpected publication %s %s: %s", f.Topic, f.Offset, f.Data)
	case <-time.After(d):
	}
}

// closed waits until the server closed the connection and returns the close code (0 when
// the connection ended without a close frame).
func (c *wsClient) closed(d time.Duration) int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
		c.t.Fatalf("connection still open after %s", d)
	}
	var ce *websocket.CloseError
	if errors.As(c.err(), &ce) {
		return ce.Code
	}
	return 0
}

func (c *wsClient) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}
