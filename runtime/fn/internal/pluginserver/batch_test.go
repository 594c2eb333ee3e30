package pluginserver

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/wire"
)

// serveBatch runs one batch of n events (IDs "0" to "n-1") through a data server whose recent
// handler time is avg, and returns the answers and how many handlers ran at once at most.
func serveBatch(t *testing.T, n int, avg time.Duration, h HandlerFunc) (*pb.BatchResponse, int32) {
	t.Helper()
	var at atOnce
	srv := &dataServer{function: "f", handler: at.wrap(h)}
	srv.avg.Store(int64(avg))
	host, plugin := net.Pipe()
	go srv.serve(plugin)
	conn := wire.NewConn(host)
	defer conn.Close()
	got := make(chan []byte, 1)
	go conn.ReadLoop(func(f wire.Frame) { got <- append([]byte(nil), f.Payload...) })

	batch := &pb.BatchRequest{}
	for k := range n {
		batch.Requests = append(batch.Requests, &pb.Request{Event: &pb.Event{Id: strconv.Itoa(k)},
			DeadlineUnixNano: time.Now().Add(10 * time.Second).UnixNano()})
	}
	payload, _ := proto.Marshal(batch)
	if err := conn.Send(wire.Frame{Kind: wire.KindBatchRequest, ID: 1, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		resp := &pb.BatchResponse{}
		if err := proto.Unmarshal(b, resp); err != nil {
			t.Fatal(err)
		}
		return resp, at.peak.Load()
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the batch")
	}
	return nil, 0
}

func TestBatchAnswersEveryEventInOrder(t *testing.T) {
	for _, avg := range []time.Duration{time.Microsecond, 20 * time.Microsecond, time.Millisecond} {
		resp, _ := serveBatch(t, 37, avg, func(_ context.Context, ev *event.Event) (*event.Result, error) {
			if ev.ID == "5" {
				return nil, event.Errorf(422, "refused %s", ev.ID)
			}
			return event.Text(200, "done "+ev.ID), nil
		})
		if len(resp.GetResponses()) != 37 {
			t.Fatalf("avg %v: %d answers to 37 events", avg, len(resp.GetResponses()))
		}
		for k, r := range resp.GetResponses() {
			if k == 5 {
				if r.GetFailure().GetStatus() != 422 {
					t.Errorf("avg %v: event 5 answered %v, want its 422", avg, r)
				}
				continue
			}
			if string(r.GetResult().GetBody()) != "done "+strconv.Itoa(k) || r.GetStartedUnixNano() == 0 {
				t.Errorf("avg %v: answer %d is %v", avg, k, r)
			}
		}
	}
}

// TestSlowHandlersEachGetAWorker: while handlers are slow, the events of a batch run at
// once, not one after another in chunks.
func TestSlowHandlersEachGetAWorker(t *testing.T) {
	const n = 8
	_, peak := serveBatch(t, n, slowHandler, allAtOnce(n))
	if peak != n {
		t.Fatalf("%d handlers ran at once, want all %d", peak, n)
	}
}

// atOnce counts how many calls of the handlers it wraps run at the same time, at most.
type atOnce struct{ cur, peak atomic.Int32 }

func (a *atOnce) wrap(h HandlerFunc) HandlerFunc {
	return func(ctx context.Context, ev *event.Event) (*event.Result, error) {
		c := a.cur.Add(1)
		defer a.cur.Add(-1)
		for p := a.peak.Load(); c > p && !a.peak.CompareAndSwap(p, c); p = a.peak.Load() {
		}
		return h(ctx, ev)
	}
}

// allAtOnce returns a handler whose calls return only once n of them run at the same time:
// a test that gives n calls to one that runs them one after another never ends.
func allAtOnce(n int32) HandlerFunc {
	release := make(chan struct{})
	var started atomic.Int32
	go func() {
		for started.Load() < n {
			time.Sleep(time.Millisecond)
		}
		close(release)
	}()
	return func(context.Context, *event.Event) (*event.Result, error) {
		started.Add(1)
		<-release
		return event.Status(204), nil
	}
}

func TestChunkFollowsHandlerTime(t *testing.T) {
	s := &dataServer{}
	for _, c := range []struct {
		avg  time.Duration
		want int
	}{{time.Microsecond, 16}, {10 * time.Microsecond, 4}, {slowHandler, 1}, {time.Second, 1}} {
		s.avg.Store(int64(c.avg))
		if got := s.chunk(); got != c.want {
			t.Errorf("chunk at %v = %d, want %d", c.avg, got, c.want)
		}
	}
	// A slow call pulls a fast average up at once: one 1 ms call after 1 µs ones.
	s.avg.Store(int64(time.Microsecond))
	s.handler = HandlerFunc(func(context.Context, *event.Event) (*event.Result, error) {
		time.Sleep(time.Millisecond)
		return nil, nil
	})
	s.timed(context.Background(), &event.Event{})
	if s.chunk() != 1 {
		t.Errorf("after a 1 ms call the average is %v: chunk %d, want 1", time.Duration(s.avg.Load()), s.chunk())
	}
}
