package pluginserver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/edgefn/edgefn/runtime/wire"
)

// ErrNoHost is returned by HostCall outside an invocation of the gateway (in fntest, say),
// or once the data path closed.
var ErrNoHost = errors.New("edgefn: no gateway to call: not in an invocation")

// hostCalls are the calls of handlers to the host waiting for their replies (KindHostCall,
// KindHostReply frames), by the plugin's own ID.
type hostCalls struct {
	conn *wire.Conn
	next atomic.Uint64

	mu      sync.Mutex
	waiting map[uint64]chan []byte
	closed  bool
}

func newHostCalls(conn *wire.Conn) *hostCalls {
	return &hostCalls{conn: conn, waiting: map[uint64]chan []byte{}}
}

// call sends req and waits for its reply, or for ctx.
func (h *hostCalls) call(ctx context.Context, req []byte) ([]byte, error) {
	id := h.next.Add(1)
	ch := make(chan []byte, 1)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrNoHost
	}
	h.waiting[id] = ch
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.waiting, id)
		h.mu.Unlock()
	}()
	if err := h.conn.Send(wire.Frame{Kind: wire.KindHostCall, ID: id, Payload: req}); err != nil {
		return nil, err
	}
	select {
	case b, ok := <-ch:
		if !ok {
			return nil, ErrNoHost
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// reply hands a KindHostReply frame to its caller, if it still waits.
func (h *hostCalls) reply(f wire.Frame) {
	h.mu.Lock()
	ch := h.waiting[f.ID]
	delete(h.waiting, f.ID)
	h.mu.Unlock()
	if ch != nil {
		ch <- append([]byte(nil), f.Payload...) // the frame's memory is reused
	}
}

// close fails the calls waiting, and every later one: the data path is gone.
func (h *hostCalls) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for id, ch := range h.waiting {
		delete(h.waiting, id)
		close(ch)
	}
}

// HostCall sends req (a JSON object with an "op") to the gateway that runs the invocation of
// ctx, and returns its reply (a JSON object).
func HostCall(ctx context.Context, req []byte) ([]byte, error) {
	inv, ok := ctx.Value(invocationKey{}).(*invocation)
	if !ok || inv.host == nil {
		return nil, ErrNoHost
	}
	return inv.host.call(ctx, req)
}
