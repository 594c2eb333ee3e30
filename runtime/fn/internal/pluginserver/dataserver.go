package pluginserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/deadline"
	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/wire"
)

// dataServer runs invocations that arrive on the data path, concurrently, on workers.
type dataServer struct {
	handler  Handler
	function string
	// avg is the recent average time of a handler call, in nanoseconds (see chunk).
	avg atomic.Int64
	// rescueAfter, when not zero, stands for the constant of that name (tests).
	rescueAfter time.Duration
	// host carries the handlers' calls to the gateway (hostcall.go); set by serve.
	host *hostCalls
}

// accept serves the gateway's one connection, then removes the socket so no one else can dial.
func (s *dataServer) accept(ln net.Listener, dir string) {
	c, err := ln.Accept()
	ln.Close()
	os.RemoveAll(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "edgefn: data path accept: %v\n", err)
		os.Exit(1)
	}
	s.serve(c)
	// The gateway closed the data path: it is stopping this plugin.
	os.Exit(0)
}

func (s *dataServer) serve(c net.Conn) {
	conn := wire.NewConn(c)
	s.host = newHostCalls(conn)
	defer s.host.close()
	pool := newWorkers()
	var (
		mu      sync.Mutex
		cancels = make(map[uint64]canceler)
	)
	finished := func(id uint64) {
		mu.Lock()
		delete(cancels, id)
		mu.Unlock()
	}
	// Requests that arrived together wait in gathered until the last of them is read, then run
	// in chunks as a batch's events do (see chunk).
	var gathered []call
	conn.ReadLoop(func(f wire.Frame) {
		switch f.Kind {
		case wire.KindRequest:
			req, err := wire.DecodeRequest(f.Payload)
			if err != nil {
				s.reply(conn, wire.KindResponse, f.ID, failure(wire.FailureBadRequest, 0, "decode request: "+err.Error()))
				break
			}
			ctx, cancel := s.context(req)
			mu.Lock()
			cancels[f.ID] = cancel
			mu.Unlock()
			gathered = append(gathered, call{id: f.ID, ctx: ctx, cancel: cancel, ev: &req.Event})
		case wire.KindBatchRequest:
			s.runBatch(conn, pool, f, func(cancel context.CancelFunc) {
				mu.Lock()
				cancels[f.ID] = cancelFunc(cancel)
				mu.Unlock()
			}, func() { finished(f.ID) })
		case wire.KindHostReply:
			s.host.reply(f)
		case wire.KindCancel:
			mu.Lock()
			cancel := cancels[f.ID]
			mu.Unlock()
			if cancel != nil {
				cancel.Cancel()
			}
		}
		gathered = s.dispatch(gathered, f.More, func(calls []call) {
			pool.run(func() { s.runCalls(conn, pool, calls, finished) })
		})
	})
	mu.Lock()
	for _, cancel := range cancels {
		cancel.Cancel()
	}
	mu.Unlock()
}

// call is one invocation of a KindRequest frame.
type call struct {
	id     uint64
	ctx    context.Context
	cancel canceler
	ev     *event.Event
}

// canceler ends a call's or a batch's context.
type canceler interface{ Cancel() }

// cancelFunc is a context.CancelFunc as a canceler.
type cancelFunc context.CancelFunc

func (f cancelFunc) Cancel() { f() }

// dispatch starts the calls gathered in chunks (see chunk): every one of them when more is
// false, since no frame is about to follow, else the full chunks only. It returns the calls
// left to gather. The chunk is taken anew each time: it shrinks while handlers run slower, and
// then more than one chunk may be waiting.
func (s *dataServer) dispatch(gathered []call, more bool, start func([]call)) []call {
	for len(gathered) > 0 {
		chunk := s.chunk()
		if more && len(gathered) < chunk {
			break
		}
		n := min(chunk, len(gathered))
		start(gathered[:n:n])
		gathered = gathered[n:]
	}
	return gathered
}

// rescueAfter is how long a worker may spend on a chunk of calls before the calls it has not
// started move to workers of their own: a handler that turns slow holds the rest of its chunk
// that long at most.
const rescueAfter = 500 * time.Microsecond

// runCalls runs calls in turn on this worker and sends their answers together, unless the
// chunk outlives rescueAfter: then the answers ready so far leave at once, each later one as
// soon as it is ready, and the calls not yet started run on workers of their own.
func (s *dataServer) runCalls(conn *wire.Conn, pool *workers, calls []call, finished func(id uint64)) {
	answer := func(c call) wire.Frame {
		resp := s.timed(c.ctx, c.ev)
		finished(c.id)
		c.cancel.Cancel()
		return wire.Frame{Kind: wire.KindResponse, ID: c.id, Payload: fitted(resp)}
	}
	if len(calls) == 1 {
		_ = conn.Send(answer(calls[0]))
		return
	}
	var (
		next    atomic.Int32 // calls[next] is the next call to start
		mu      sync.Mutex
		frames  = make([]wire.Frame, 0, len(calls))
		rescued bool
	)
	claim := func() (call, bool) {
		if k := int(next.Add(1)) - 1; k < len(calls) {
			return calls[k], true
		}
		return call{}, false
	}
	after := rescueAfter
	if s.rescueAfter != 0 {
		after = s.rescueAfter
	}
	rescue := time.AfterFunc(after, func() {
		mu.Lock()
		rescued = true
		ready := frames
		frames = nil
		mu.Unlock()
		_ = conn.SendAll(ready)
		for c, ok := claim(); ok; c, ok = claim() {
			pool.run(func() { _ = conn.Send(answer(c)) })
		}
	})
	for c, ok := claim(); ok; c, ok = claim() {
		f := answer(c)
		mu.Lock()
		if !rescued {
			frames = append(frames, f)
			mu.Unlock()
			continue
		}
		mu.Unlock()
		_ = conn.Send(f)
	}
	if rescue.Stop() {
		_ = conn.SendAll(frames) // the timer never ran: frames holds every answer
		return
	}
	// The rescue ran or runs: it sends what frames held when it took it; what this worker
	// finished after that it sent itself.
}

// runBatch runs every invocation of a batch frame on its own worker and answers them all in one
// frame once the last is done. The invocations share the batch's deadline and cancellation;
// each keeps its own request ID and trace context. register and unregister keep the batch's
// cancel where a KindCancel frame finds it.
func (s *dataServer) runBatch(conn *wire.Conn, pool *workers, f wire.Frame, register func(context.CancelFunc), unregister func()) {
	reqs, bad, err := wire.DecodeBatchRequest(f.Payload)
	if err != nil {
		// The frame itself is broken: there is no telling how many answers the host expects.
		conn.Send(wire.Frame{Kind: wire.KindBatchResponse, ID: f.ID})
		return
	}
	resps := make([][]byte, len(reqs))
	var deadline int64
	for i, req := range reqs {
		if req == nil {
			resps[i] = failure(wire.FailureBadRequest, 0, "decode request: "+bad[i].Error())
			continue
		}
		if deadline == 0 || (req.Deadline != 0 && req.Deadline < deadline) {
			deadline = req.Deadline
		}
	}
	base, cancel := context.WithCancel(context.Background())
	if deadline != 0 {
		base, cancel = context.WithDeadline(context.Background(), time.Unix(0, deadline))
	}
	register(cancel)
	id := f.ID
	var left atomic.Int64
	left.Store(int64(len(reqs)) + 1) // +1: the loop below holds the batch open until all started
	finish := func() {
		if left.Add(-1) != 0 {
			return
		}
		unregister()
		cancel()
		size := 0
		for _, r := range resps {
			size += len(r) + 8
		}
		out := make([]byte, 0, size)
		for _, r := range resps {
			out = wire.AppendBatchResponse(out, r)
		}
		s.reply(conn, wire.KindBatchResponse, id, out)
	}
	// Events run in chunks, each chunk on one worker in turn: one event a chunk while
	// handlers take long (they must not wait for each other), more while they are quick,
	// when handing each to a worker of its own would cost more than the handler.
	chunk := s.chunk()
	for start := 0; start < len(reqs); start += chunk {
		part := reqs[start:min(start+chunk, len(reqs))]
		pool.run(func() {
			for k, req := range part {
				if req != nil {
					resps[start+k] = s.timed(s.invocationContext(base, req), &req.Event)
				}
				finish()
			}
		})
	}
	finish()
}

// slowHandler is the recent average handler time from which every call, and every event of a
// batch, gets a worker of its own; the average starts there.
const slowHandler = 50 * time.Microsecond

// chunk is how many events of a batch, or calls that arrived together, one worker runs in
// turn, from how long handlers took lately: 1 from slowHandler up, 4 from 10 µs, else 16.
// Handing each to a worker of its own would cost more than such handlers. A handler that turns
// slow delays at most the rest of its batch's chunk (a call's chunk: rescueAfter), and the
// next ones run one a worker again.
func (s *dataServer) chunk() int {
	switch avg := time.Duration(s.avg.Load()); {
	case avg >= slowHandler:
		return 1
	case avg >= 10*time.Microsecond:
		return 4
	}
	return 16
}

// timed runs an invocation and folds its time into the recent average (weight 1/8).
func (s *dataServer) timed(ctx context.Context, ev *event.Event) []byte {
	resp, took := s.run(ctx, ev)
	avg := s.avg.Load()
	s.avg.Store(avg + (int64(took)-avg)/8)
	return resp
}

func (s *dataServer) reply(conn *wire.Conn, kind byte, id uint64, payload []byte) {
	_ = conn.Send(wire.Frame{Kind: kind, ID: id, Payload: fitted(payload)})
}

// fitted returns payload, or in its place a failure when it is over the frame limit: the
// gateway would drop the whole connection for it, so only this call fails (a batch's answers
// together: the host then retries each message on its own).
func fitted(payload []byte) []byte {
	if len(payload) <= wire.MaxPayload {
		return payload
	}
	msg := fmt.Sprintf("response of %d bytes exceeds the limit of %d", len(payload), wire.MaxPayload)
	return failure(wire.FailureError, 0, msg)
}

// failure encodes a Response carrying a Failure.
func failure(kind wire.FailureKind, status int, msg string) []byte {
	return wire.AppendResponse(nil, &wire.Response{Failure: &wire.Failure{Kind: kind, Status: status, Message: msg}})
}

// invocation is what a handler's ctx knows of its invocation; fn.Logger builds the logger from
// it only when a handler asks, so invocations that do not log pay nothing for it.
type invocation struct {
	function, requestID, traceparent string
	host                             *hostCalls

	once sync.Once
	log  *slog.Logger
}

type invocationKey struct{}

// context builds the invocation's context: its deadline, its trace context and what its
// logger will say, in one allocation (callContext). The deadline's timer is made only if the
// handler waits on ctx (see package deadline): most handlers return without asking, and the
// gateway's cancel frame ends the call at its deadline anyway. BenchmarkCall compares this
// with context.WithDeadline on a call's whole path through the plugin.
func (s *dataServer) context(req *wire.Request) (context.Context, canceler) {
	if req.Deadline == 0 {
		ctx, cancel := context.WithCancel(s.invocationContext(context.Background(), req))
		return ctx, cancelFunc(cancel)
	}
	c := &callContext{inv: s.invocation(req)}
	c.Start(traceContext(context.Background(), req.Traceparent), time.Unix(0, req.Deadline))
	return c, c
}

// callContext is a call's ctx: its deadline, and its invocation under invocationKey.
type callContext struct {
	deadline.Context
	inv invocation
}

func (c *callContext) Value(key any) any {
	if key == (invocationKey{}) {
		return &c.inv
	}
	return c.Context.Value(key)
}

// invocationContext returns parent carrying what the handler's ctx knows of req: its log
// fields, and its trace context as the remote parent of spans the handler starts with
// OpenTelemetry (the gateway's invocation span).
func (s *dataServer) invocationContext(parent context.Context, req *wire.Request) context.Context {
	inv := s.invocation(req)
	return traceContext(context.WithValue(parent, invocationKey{}, &inv), req.Traceparent)
}

// invocation is what a handler's ctx knows of req.
func (s *dataServer) invocation(req *wire.Request) invocation {
	return invocation{function: s.function, requestID: req.RequestID, traceparent: req.Traceparent, host: s.host}
}

// traceContext returns parent with the W3C traceparent tp as its remote span context, or
// parent when tp is "" or malformed.
func traceContext(parent context.Context, tp string) context.Context {
	if tp == "" {
		return parent
	}
	sc, err := tracectx.Parse(tp)
	if err != nil {
		return parent
	}
	return trace.ContextWithRemoteSpanContext(parent, sc)
}

// logger returns the invocation's logger, made on first use.
func (inv *invocation) logger() *slog.Logger {
	inv.once.Do(func() {
		attrs := []any{slog.String("function", inv.function)}
		if inv.requestID != "" {
			attrs = append(attrs, slog.String("request_id", inv.requestID))
		}
		if tid := traceID(inv.traceparent); tid != "" {
			attrs = append(attrs, slog.String("trace_id", tid))
		}
		inv.log = baseLogger.With(attrs...)
	})
	return inv.log
}

// run calls the handler, recovering a panic into a failure of this invocation only, and
// returns the encoded Response and how long the handler took.
func (s *dataServer) run(ctx context.Context, ev *event.Event) (resp []byte, took time.Duration) {
	r := wire.Response{Started: time.Now().UnixNano()}
	defer func() {
		if p := recover(); p != nil {
			Logger(ctx).Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			r.Result, r.Failure = nil, &wire.Failure{Kind: wire.FailurePanic, Message: fmt.Sprintf("panic: %v", p)}
		}
		// When the handler ran, for the gateway's trace of the invocation.
		r.Finished = time.Now().UnixNano()
		resp = wire.AppendResponse(nil, &r)
		took = time.Duration(r.Finished - r.Started)
	}()
	r.Result, r.Failure = s.handle(ctx, ev)
	return nil, 0 // the deferred function encodes r
}

// handle calls the handler and returns its Result, or the Failure its error stands for.
func (s *dataServer) handle(ctx context.Context, ev *event.Event) (*event.Result, *wire.Failure) {
	res, err := s.handler.Handle(ctx, ev)
	if err == nil && res != nil && res.Err() != nil {
		err = res.Err()
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, &wire.Failure{Kind: wire.FailureCanceled, Message: err.Error()}
		}
		var fe *event.Error
		if errors.As(err, &fe) {
			return nil, &wire.Failure{Kind: wire.FailureError, Status: fe.Status, Message: fe.Message}
		}
		return nil, &wire.Failure{Kind: wire.FailureError, Message: err.Error()}
	}
	if res == nil {
		res = &event.Result{Status: 204}
	}
	return res, nil
}

// Traceparent returns the W3C traceparent of the invocation, or "" when it has none.
func Traceparent(ctx context.Context) string {
	if inv, ok := ctx.Value(invocationKey{}).(*invocation); ok {
		return inv.traceparent
	}
	return ""
}

// traceID extracts the trace ID from a traceparent "00-<trace-id>-<span-id>-<flags>".
func traceID(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		return ""
	}
	return parts[1]
}
