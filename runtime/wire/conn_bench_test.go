package wire_test

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edgefn/edgefn/runtime/wire"
)

// benchClient is the host side as instance.go uses it: requests multiplexed by ID, each caller
// waiting on its own channel for the response the read loop hands it.
type benchClient struct {
	conn    *wire.Conn
	next    atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan []byte
}

func (c *benchClient) call(payload []byte) ([]byte, error) {
	id := c.next.Add(1)
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.conn.Send(wire.Frame{Kind: wire.KindRequest, ID: id, Payload: payload}); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-c.conn.Done():
		return nil, c.conn.Err()
	}
}

// startEchoPair connects a client to a peer that answers every request with its payload, over a
// Unix socket, as the gateway and a plugin are connected.
func startEchoPair(b *testing.B) *benchClient {
	hostSide, pluginSide := unixPair(b)

	plugin := wire.NewConn(pluginSide)
	client := &benchClient{conn: wire.NewConn(hostSide), pending: map[uint64]chan []byte{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		plugin.ReadLoop(func(f wire.Frame) {
			plugin.Send(wire.Frame{Kind: wire.KindResponse, ID: f.ID, Payload: bytes.Clone(f.Payload)})
		})
	})
	wg.Go(func() {
		client.conn.ReadLoop(func(f wire.Frame) {
			client.mu.Lock()
			ch := client.pending[f.ID]
			delete(client.pending, f.ID)
			client.mu.Unlock()
			if ch != nil {
				ch <- bytes.Clone(f.Payload)
			}
		})
	})
	b.Cleanup(func() {
		client.conn.Close()
		plugin.Close()
		wg.Wait()
	})
	return client
}

// BenchmarkRoundTrip measures one request/response round trip over the data path with 1 and 64
// callers sharing the connection; ns/op is per round trip, so the 64-caller figure divided by
// the 1-caller one is what batching the writes buys.
func BenchmarkRoundTrip(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 256)
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			client := startEchoPair(b)
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			errs := make(chan error, callers)
			b.SetBytes(int64(2 * len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for range callers {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						resp, err := client.call(payload)
						if err != nil {
							errs <- err
							return
						}
						if len(resp) != len(payload) {
							errs <- fmt.Errorf("response of %d bytes, want %d", len(resp), len(payload))
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}
