package ws

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// fakeFn is a websocket function of the tests: invoke answers its events.
type fakeFn struct {
	name   string
	m      *manifest.Function
	invoke func(ctx context.Context, ev *event.Event) (*event.Result, error)
}

func (f *fakeFn) Name() string                 { return f.name }
func (f *fakeFn) Manifest() *manifest.Function { return f.m }
func (f *fakeFn) Invoke(ctx context.Context, ev *event.Event) (*event.Result, error) {
	return f.invoke(ctx, ev)
}

var _ dispatch.Function = (*fakeFn)(nil)

// newFakeFn returns a function with the websocket triggers given as "EVENT [PATTERN]".
func newFakeFn(name string, invoke func(context.Context, *event.Event) (*event.Result, error), triggers ...string) *fakeFn {
	m := &manifest.Function{Name: name}
	for _, s := range triggers {
		ev, pattern, _ := strings.Cut(s, " ")
		t := &manifest.WebSocketTrigger{Event: ev, Topic: pattern}
		if ev == manifest.WSRPC {
			t.Topic, t.Method = "", pattern
		}
		m.Triggers = append(m.Triggers, manifest.Trigger{WebSocket: t})
	}
	return &fakeFn{name: name, m: m, invoke: invoke}
}

func readFrame(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, frame, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(frame)
}

// The rpc calls of a connection beyond MaxRPCs wait their turn: every one is answered, with
// its id, and no more than MaxRPCs run at once.
func TestRPCsBeyondTheBoundWait(t *testing.T) {
	h, url := newTestHubConfig(t, Config{MaxConnsPerIP: -1, MaxConns: -1, MaxRPCs: 2})
	var running, most atomic.Int32
	release := make(chan struct{})
	h.SetFunctions([]dispatch.Function{newFakeFn("f", func(ctx context.Context, ev *event.Event) (*event.Result, error) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		defer running.Add(-1)
		<-release
		return &event.Result{Body: ev.Data}, nil
	}, "rpc calc.*")})
	c := dial(t, url)
	const n = 6
	for i := range n {
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":`+strconv.Itoa(i)+`,"op":"rpc","method":"calc.add","data":`+strconv.Itoa(i*10)+`}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Two run and hold; the others wait until one ends, and never a third runs beside them.
	testkit.Eventually(t, 5*time.Second, "two calls running", func() bool { return running.Load() == 2 })
	for range n {
		release <- struct{}{}
	}
	got := map[string]bool{}
	for range n {
		got[readFrame(t, c)] = true
	}
	for i := range n {
		if want := `{"id":` + strconv.Itoa(i) + `,"ok":true,"data":` + strconv.Itoa(i*10) + `}`; !got[want] {
			t.Errorf("no reply %s among %v", want, got)
		}
	}
	if m := most.Load(); m != 2 {
		t.Errorf("%d calls ran at once, want 2 (MaxRPCs)", m)
	}
}

// The rpc function of the most specific matching pattern runs; a method nobody serves is
// not_found.
func TestRPCMostSpecificPatternWins(t *testing.T) {
	h, url := newTestHub(t)
	answer := func(s string) func(context.Context, *event.Event) (*event.Result, error) {
		return func(context.Context, *event.Event) (*event.Result, error) {
			return &event.Result{Body: []byte(`"` + s + `"`)}, nil
		}
	}
	h.SetFunctions([]dispatch.Function{
		newFakeFn("wide", answer("wide"), "rpc profile.*"),
		newFakeFn("narrow", answer("narrow"), "rpc profile.get"),
	})
	c := dial(t, url)
	roundTrip(t, c, `{"id":1,"op":"rpc","method":"profile.get"}`, `{"id":1,"ok":true,"data":"narrow"}`)
	roundTrip(t, c, `{"id":2,"op":"rpc","method":"profile.set"}`, `{"id":2,"ok":true,"data":"wide"}`)
	roundTrip(t, c, `{"id":3,"op":"rpc","method":"other.get"}`, `{"id":3,"ok":false,"error":{"code":"not_found","message":"no function serves method other.get"}}`)
}

// Frames a client sends while its connect function runs wait for it, in order; the connected
// frame comes first. Without a first frame, the function runs once AuthWait passed.
func TestFramesWaitForTheConnectFunction(t *testing.T) {
	h, url := newTestHubConfig(t, Config{MaxConnsPerIP: -1, MaxConns: -1, AuthWait: 20 * time.Millisecond})
	var mu sync.Mutex
	gates := map[string]chan struct{}{}
	gate := func(client string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if gates[client] == nil {
			gates[client] = make(chan struct{})
		}
		return gates[client]
	}
	started := make(chan string, 4)
	h.SetFunctions([]dispatch.Function{newFakeFn("c", func(ctx context.Context, ev *event.Event) (*event.Result, error) {
		started <- ev.Subject
		<-gate(ev.Subject)
		b, _ := json.Marshal(map[string]any{"data": map[string]string{"type": ev.Type}, "claims": map[string]any{"sub": "ada"}})
		return &event.Result{Body: b}, nil
	}, "connect")})

	c := dial(t, url)
	for i := range 3 {
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":`+strconv.Itoa(i)+`,"op":"ping"}`)); err != nil {
			t.Fatal(err)
		}
	}
	client := <-started
	close(gate(client))
	if f := readFrame(t, c); f != `{"connected":{"client":"`+client+`","data":{"type":"edgefn.ws.connect"}}}` {
		t.Fatalf("first frame %s, want the connected frame", f)
	}
	for i := range 3 {
		if f := readFrame(t, c); f != `{"id":`+strconv.Itoa(i)+`,"ok":true}` {
			t.Fatalf("frame %s, want the reply to ping %d", f, i)
		}
	}

	// A client that sends nothing.
	quiet := dial(t, url)
	client = <-started
	close(gate(client))
	if f := readFrame(t, quiet); !strings.HasPrefix(f, `{"connected":{"client":"`+client+`"`) {
		t.Fatalf("first frame %s, want the connected frame", f)
	}
}
