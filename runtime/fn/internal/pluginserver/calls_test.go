package pluginserver

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/wire"
)

// serveCalls sends n requests (event IDs "0" to "n-1") in one write to a data server whose
// recent handler time is avg, and returns the answers by frame ID (the event's index + 1)
// once all have arrived; received, when not nil, hears of each answer as it arrives.
func serveCalls(t *testing.T, n int, avg time.Duration, h HandlerFunc, received chan<- wire.Frame) <-chan map[uint64]*pb.Response {
	t.Helper()
	return serveCallsOn(t, &dataServer{function: "f", handler: h}, n, avg, received)
}

func serveCallsOn(t *testing.T, srv *dataServer, n int, avg time.Duration, received chan<- wire.Frame) <-chan map[uint64]*pb.Response {
	t.Helper()
	srv.avg.Store(int64(avg))
	host, plugin := net.Pipe()
	go srv.serve(plugin)
	conn := wire.NewConn(host)
	t.Cleanup(func() { conn.Close() })
	answers := make(chan map[uint64]*pb.Response, 1)
	got := map[uint64]*pb.Response{}
	go conn.ReadLoop(func(f wire.Frame) {
		resp := &pb.Response{}
		if err := proto.Unmarshal(f.Payload, resp); err != nil {
			t.Error(err)
		}
		if got[f.ID] != nil {
			t.Errorf("call %d answered twice", f.ID)
		}
		got[f.ID] = resp
		if received != nil {
			received <- wire.Frame{ID: f.ID, More: f.More}
		}
		if len(got) == n {
			answers <- got
		}
	})
	frames := make([]wire.Frame, n)
	for k := range n {
		b, _ := proto.Marshal(&pb.Request{Event: &pb.Event{Id: strconv.Itoa(k)},
			DeadlineUnixNano: time.Now().Add(10 * time.Second).UnixNano()})
		frames[k] = wire.Frame{Kind: wire.KindRequest, ID: uint64(k + 1), Payload: b}
	}
	if err := conn.SendAll(frames); err != nil {
		t.Fatal(err)
	}
	return answers
}

func waitAnswers(t *testing.T, answers <-chan map[uint64]*pb.Response) map[uint64]*pb.Response {
	t.Helper()
	select {
	case got := <-answers:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("not every call was answered")
	}
	return nil
}

func TestCallsArrivingTogetherAreEachAnswered(t *testing.T) {
	for _, avg := range []time.Duration{time.Microsecond, 20 * time.Microsecond, time.Millisecond} {
		got := waitAnswers(t, serveCalls(t, 37, avg, func(_ context.Context, ev *event.Event) (*event.Result, error) {
			if ev.ID == "5" {
				return nil, event.Errorf(422, "refused %s", ev.ID)
			}
			return event.Text(200, "done "+ev.ID), nil
		}, nil))
		for k := range 37 {
			r := got[uint64(k+1)]
			if k == 5 {
				if r.GetFailure().GetStatus() != 422 {
					t.Errorf("avg %v: call 5 answered %v, want its 422", avg, r)
				}
				continue
			}
			if string(r.GetResult().GetBody()) != "done "+strconv.Itoa(k) {
				t.Errorf("avg %v: call %d answered %v", avg, k, r)
			}
		}
	}
}

// Calls gathered while handlers were quick all start once the last frame of a read is in,
// even when the chunk shrank meanwhile (a handler running elsewhere turned slow): none waits
// in gathered for a frame that may never come.
func TestDispatchStartsEveryCallOfTheLastFrame(t *testing.T) {
	calls := func(n int) []call { return make([]call, n) }
	for _, c := range []struct {
		avg    time.Duration
		n      int
		more   bool
		chunks []int
		left   int
	}{
		{time.Microsecond, 11, true, nil, 11},             // chunk 16: gather on
		{time.Microsecond, 16, true, []int{16}, 0},        // a full chunk starts
		{time.Microsecond, 11, false, []int{11}, 0},       // the last frame: all start
		{20 * time.Microsecond, 11, true, []int{4, 4}, 3}, // chunk 4: full chunks only
		{20 * time.Microsecond, 11, false, []int{4, 4, 3}, 0},
		{time.Millisecond, 11, false, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0}, // gathered at 16, now 1
	} {
		s := &dataServer{}
		s.avg.Store(int64(c.avg))
		var started []int
		left := s.dispatch(calls(c.n), c.more, func(cs []call) { started = append(started, len(cs)) })
		if !slices.Equal(started, c.chunks) || len(left) != c.left {
			t.Errorf("avg %v, %d calls, more=%v: started %v, left %d; want %v, %d", c.avg, c.n, c.more, started, len(left), c.chunks, c.left)
		}
	}
}

// TestQuickCallsShareAWorkerAndAWrite: while handlers are quick, calls that arrive together
// run one after another on one worker, and their answers leave in one write; while they are
// slow, each call gets a worker of its own.
func TestQuickCallsShareAWorkerAndAWrite(t *testing.T) {
	const n = 16 // one chunk at a 1 µs average
	var at atOnce
	h := at.wrap(func(context.Context, *event.Event) (*event.Result, error) {
		time.Sleep(time.Millisecond) // long enough for others to overlap, if they ran apart
		return event.Status(204), nil
	})
	received := make(chan wire.Frame, n)
	// No rescue within the test: the chunk may take its time under the race detector.
	waitAnswers(t, serveCallsOn(t, &dataServer{function: "f", handler: h, rescueAfter: time.Hour}, n, time.Microsecond, received))
	if at.peak.Load() != 1 {
		t.Errorf("%d handlers ran at once, want 1 (one worker for the chunk)", at.peak.Load())
	}
	for k := range n {
		if f := <-received; f.More != (k < n-1) {
			t.Fatalf("answer %d of %d arrived with more=%v: the chunk's answers did not leave in one write", k+1, n, f.More)
		}
	}

	waitAnswers(t, serveCalls(t, n, slowHandler, allAtOnce(n), nil))
}

// TestSlowCallDoesNotHoldItsChunk: while handlers are quick, calls that arrive together share
// a worker; when one of them turns slow, the answers of those before it leave, and those after
// it run elsewhere, without waiting for it. Here the slow call finishes only once the host has
// received the answer of every other call of its chunk.
func TestSlowCallDoesNotHoldItsChunk(t *testing.T) {
	const n = 16 // one chunk at a 1 µs average
	received := make(chan wire.Frame, n)
	answers := serveCalls(t, n, time.Microsecond, func(ctx context.Context, ev *event.Event) (*event.Result, error) {
		if ev.ID != "3" {
			return event.Text(200, ev.ID), nil
		}
		for range n - 1 {
			select {
			case <-received:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return event.Text(200, "slow"), nil
	}, received)
	got := waitAnswers(t, answers)
	if string(got[4].GetResult().GetBody()) != "slow" {
		t.Fatalf("the slow call answered %v", got[4])
	}
}

// A handler's ctx carries the call's deadline and ends at it with DeadlineExceeded, even with
// no cancel frame from the host; a cancel frame ends it sooner, with Canceled.
func TestHandlerContextEndsAtTheDeadlineOrTheCancel(t *testing.T) {
	errs := make(chan error, 2)
	srv := &dataServer{function: "f", handler: HandlerFunc(func(ctx context.Context, ev *event.Event) (*event.Result, error) {
		if _, ok := ctx.Deadline(); !ok {
			errs <- nil
			return nil, nil
		}
		<-ctx.Done()
		errs <- ctx.Err()
		return nil, ctx.Err()
	})}
	srv.avg.Store(int64(slowHandler))
	host, plugin := net.Pipe()
	go srv.serve(plugin)
	conn := wire.NewConn(host)
	t.Cleanup(func() { conn.Close() })
	answered := make(chan *pb.Response, 2)
	go conn.ReadLoop(func(f wire.Frame) {
		resp := &pb.Response{}
		if err := proto.Unmarshal(f.Payload, resp); err != nil {
			t.Error(err)
		}
		answered <- resp
	})
	send := func(id uint64, in time.Duration) {
		b, _ := proto.Marshal(&pb.Request{Event: &pb.Event{Id: "e"}, DeadlineUnixNano: time.Now().Add(in).UnixNano()})
		if err := conn.Send(wire.Frame{Kind: wire.KindRequest, ID: id, Payload: b}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		cancel bool
		want   error
	}{{"deadline", false, context.DeadlineExceeded}, {"cancel frame", true, context.Canceled}} {
		in := 30 * time.Millisecond
		if c.cancel {
			in = time.Hour
		}
		send(1, in)
		if c.cancel {
			if err := conn.Send(wire.Frame{Kind: wire.KindCancel, ID: 1}); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-errs:
			if !errors.Is(err, c.want) {
				t.Fatalf("%s: the handler's ctx ended with %v, want %v", c.name, err, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the handler's ctx never ended", c.name)
		}
		if resp := <-answered; resp.GetFailure().GetKind() != pb.Failure_CANCELED {
			t.Fatalf("%s: answer %v, want a canceled failure", c.name, resp)
		}
	}
}

// A call's ctx is one allocation and behaves as the contexts it replaces: it carries the
// invocation (for Logger and Traceparent) and the gateway's span context, also to contexts
// a handler derives from it, which end with it.
func TestCallContext(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	s := &dataServer{function: "f"}
	req := &wire.Request{Deadline: time.Now().Add(time.Hour).UnixNano(), RequestID: "r1", Traceparent: tp}
	ctx, cancel := s.context(req)
	if _, ok := ctx.(*callContext); !ok {
		t.Fatalf("ctx is a %T, want a *callContext", ctx)
	}
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	for name, c := range map[string]context.Context{"ctx": ctx, "child": child} {
		if got := Traceparent(c); got != tp {
			t.Errorf("%s: Traceparent = %q, want %q", name, got, tp)
		}
		if sc := trace.SpanContextFromContext(c); sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || !sc.IsRemote() {
			t.Errorf("%s: span context %v, want the gateway's, remote", name, sc)
		}
		if d, ok := c.Deadline(); !ok || d.UnixNano() != req.Deadline {
			t.Errorf("%s: deadline %v, %v; want the request's", name, d, ok)
		}
	}
	if inv := ctx.Value(invocationKey{}).(*invocation); inv.requestID != "r1" || inv.function != "f" {
		t.Errorf("invocation %+v, want request r1 of f", inv)
	}
	cancel.Cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context derived from the call's did not end with it")
	}
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("Err = %v, child's %v; want Canceled", ctx.Err(), child.Err())
	}

	if n := testing.AllocsPerRun(100, func() {
		_, cancel := s.context(&wire.Request{Deadline: req.Deadline, RequestID: "r1"})
		cancel.Cancel()
	}); n > 1 {
		t.Errorf("a call's ctx takes %v allocations, want 1", n)
	}
}
