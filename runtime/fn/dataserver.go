package fn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/wire"
)

// dataServer runs invocations that arrive on the data path, each in its own goroutine.
type dataServer struct {
	handler  Handler
	function string
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
	conn := wire.NewConn(c, 1024)
	go conn.WriteLoop()
	var (
		mu      sync.Mutex
		cancels = make(map[uint64]context.CancelFunc)
	)
	conn.ReadLoop(func(f wire.Frame) {
		switch f.Kind {
		case wire.KindRequest:
			req := &pb.Request{}
			if err := proto.Unmarshal(f.Payload, req); err != nil {
				s.reply(conn, f.ID, failure(pb.Failure_BAD_REQUEST, 0, "decode request: "+err.Error()))
				return
			}
			ctx, cancel := s.context(req)
			mu.Lock()
			cancels[f.ID] = cancel
			mu.Unlock()
			go func(id uint64) {
				resp := s.run(ctx, req)
				mu.Lock()
				delete(cancels, id)
				mu.Unlock()
				cancel()
				s.reply(conn, id, resp)
			}(f.ID)
		case wire.KindCancel:
			mu.Lock()
			cancel := cancels[f.ID]
			mu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
	})
	mu.Lock()
	for _, cancel := range cancels {
		cancel()
	}
	mu.Unlock()
}

func (s *dataServer) reply(conn *wire.Conn, id uint64, resp *pb.Response) {
	payload, err := proto.Marshal(resp)
	if err != nil {
		payload, _ = proto.Marshal(failure(pb.Failure_ERROR, 0, "encode response: "+err.Error()))
	} else if len(payload) > wire.MaxPayload {
		// Over the frame limit the gateway would drop the whole connection: fail this call only.
		payload, _ = proto.Marshal(failure(pb.Failure_ERROR, 0, fmt.Sprintf("response of %d bytes exceeds the limit of %d", len(payload), wire.MaxPayload)))
	}
	_ = conn.Send(wire.Frame{Kind: wire.KindResponse, ID: id, Payload: payload})
}

// context builds the invocation's context: its deadline, its logger and its trace context.
func (s *dataServer) context(req *pb.Request) (context.Context, context.CancelFunc) {
	ctx := context.Background()
	attrs := []any{slog.String("function", s.function)}
	if id := req.GetRequestId(); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	if tp := req.GetTraceparent(); tp != "" {
		ctx = context.WithValue(ctx, traceparentKey{}, tp)
		if tid := traceID(tp); tid != "" {
			attrs = append(attrs, slog.String("trace_id", tid))
		}
	}
	ctx = WithLogger(ctx, baseLogger.With(attrs...))
	if d := req.GetDeadlineUnixNano(); d != 0 {
		return context.WithDeadline(ctx, time.Unix(0, d))
	}
	return context.WithCancel(ctx)
}

// run calls the handler, recovering a panic into a failure of this invocation only.
func (s *dataServer) run(ctx context.Context, req *pb.Request) (resp *pb.Response) {
	ev, err := decodeEvent(req.GetEvent())
	if err != nil {
		return failure(pb.Failure_BAD_REQUEST, 0, err.Error())
	}
	defer func() {
		if p := recover(); p != nil {
			Logger(ctx).Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp = failure(pb.Failure_PANIC, 0, fmt.Sprintf("panic: %v", p))
		}
	}()
	res, err := s.handler.Handle(ctx, ev)
	if err == nil && res != nil && res.err != nil {
		err = res.err
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return failure(pb.Failure_CANCELED, 0, err.Error())
		}
		var fe *Error
		if errors.As(err, &fe) {
			return failure(pb.Failure_ERROR, int32(fe.Status), fe.Message)
		}
		return failure(pb.Failure_ERROR, 0, err.Error())
	}
	return &pb.Response{Outcome: &pb.Response_Result{Result: encodeResult(res)}}
}

func failure(kind pb.Failure_Kind, status int32, msg string) *pb.Response {
	return &pb.Response{Outcome: &pb.Response_Failure{Failure: &pb.Failure{Kind: kind, Status: status, Message: msg}}}
}

func decodeEvent(e *pb.Event) (*Event, error) {
	ev := &Event{
		ID:            e.GetId(),
		Type:          e.GetType(),
		Source:        e.GetSource(),
		Subject:       e.GetSubject(),
		Data:          e.GetData(),
		ContentType:   e.GetContentType(),
		CorrelationID: e.GetCorrelationId(),
		Attempt:       int(e.GetAttempt()),
		Headers:       e.GetHeaders(),
		Method:        e.GetMethod(),
		Path:          e.GetPath(),
		Params:        e.GetParams(),
	}
	if t := e.GetTimeUnixNano(); t != 0 {
		ev.Time = time.Unix(0, t).UTC()
	}
	if c := e.GetClaimsJson(); len(c) > 0 {
		if err := json.Unmarshal(c, &ev.Claims); err != nil {
			return nil, fmt.Errorf("decode claims: %w", err)
		}
	}
	if q := e.GetRawQuery(); q != "" {
		ev.Query, _ = url.ParseQuery(q)
	} else {
		ev.Query = url.Values{}
	}
	if ev.Headers == nil {
		ev.Headers = map[string]string{}
	}
	if ev.Params == nil {
		ev.Params = map[string]string{}
	}
	return ev, nil
}

func encodeResult(r *Result) *pb.Result {
	if r == nil {
		return &pb.Result{Status: 204}
	}
	out := &pb.Result{Status: int32(r.Status), Headers: r.Headers, Body: r.Body}
	for _, m := range r.Emitted {
		kind := pb.Message_STREAM
		if m.Queue {
			kind = pb.Message_QUEUE
		}
		out.Emits = append(out.Emits, &pb.Message{
			Kind: kind, Target: m.Target, Id: m.ID, Type: m.Type, Subject: m.Subject, Data: m.Data,
			ContentType: m.ContentType, Headers: m.Headers, Priority: int32(m.Priority),
		})
	}
	for _, n := range r.Notified {
		out.Notifications = append(out.Notifications, &pb.Notification{Topic: n.Topic, Data: n.Data})
	}
	return out
}

type traceparentKey struct{}

// Traceparent returns the W3C traceparent of the invocation, or "" when it has none.
func Traceparent(ctx context.Context) string {
	s, _ := ctx.Value(traceparentKey{}).(string)
	return s
}

// traceID extracts the trace ID from a traceparent "00-<trace-id>-<span-id>-<flags>".
func traceID(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		return ""
	}
	return parts[1]
}
