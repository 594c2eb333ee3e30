package ws

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/fasthttp/websocket"
)

// BenchmarkFanout measures a publication's fan-out to the subscribers of a topic, each a
// WebSocket client on its own loopback connection that reads every frame: an operation is one
// publication, from Notify until the last subscriber has read it. Both ways of writing a
// frame are measured in the same run.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{100, 1000} {
		for _, write := range []struct {
			name     string
			noDirect bool
		}{{"direct", false}, {"writer", true}} {
			b.Run(fmt.Sprintf("subs=%d/write=%s", subs, write.name), func(b *testing.B) {
				benchFanout(b, subs, write.noDirect)
			})
		}
	}
}

func benchFanout(b *testing.B, subs int, noDirect bool) {
	h, url := newTestHub(b)
	h.noDirect = noDirect
	var read atomic.Int64
	var want atomic.Int64
	done := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range subs {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"op":"subscribe","topic":"t.fan"}`)); err != nil {
			b.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatalf("subscribe %d: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Time{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, r, err := c.NextReader()
				if err != nil {
					return // closed at the end
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					return
				}
				if read.Add(1) == want.Load() {
					done <- struct{}{}
				}
			}
		}()
	}
	data := []byte(`{"order":"o-1234","status":"shipped","eta":"2026-12-08T10:00:00Z"}`)
	ctx := context.Background()
	defer testkit.ReportCPU(b, "cpu-ns/op")()
	for b.Loop() {
		want.Add(int64(subs))
		if err := h.Notify(ctx, "t.fan", data); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("%d of %d deliveries after 30s", read.Load(), want.Load())
		}
	}
}
