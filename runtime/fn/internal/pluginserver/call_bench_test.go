package pluginserver

import (
	"context"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/wire"
)

// BenchmarkCall is the plugin's part of an invocation of functions/hello, short of the socket:
// decode the request, make the handler's ctx, run the handler, encode its answer, end the ctx.
// "deadline" makes the ctx as the server does; "std" with context.WithDeadline, to show what
// package deadline buys on this path.
func BenchmarkCall(b *testing.B) {
	s := &dataServer{function: "hello", handler: HandlerFunc(func(_ context.Context, ev *event.Event) (*event.Result, error) {
		return event.JSON(200, map[string]string{"message": "hello, " + ev.Params["name"]}), nil
	})}
	ev := event.Event{ID: "5f0c9b3e2a7d4c1e8b6a9d0f3e2c1b4a", Source: "http", Time: time.Now(), Attempt: 1,
		Headers: map[string]string{"Host": "127.0.0.1:8080", "User-Agent": "curl/8.0"},
		Method:  "GET", Path: "/hello/x", Params: map[string]string{"name": "x"}}
	payload, err := wire.AppendRequest(nil, &wire.Request{Event: ev, Deadline: time.Now().Add(time.Hour).UnixNano(),
		RequestID: "5f0c9b3e2a7d4c1e8b6a9d0f3e2c1b4a"})
	if err != nil {
		b.Fatal(err)
	}
	std := func(req *wire.Request) (context.Context, canceler) {
		ctx, cancel := context.WithDeadline(s.invocationContext(context.Background(), req), time.Unix(0, req.Deadline))
		return ctx, cancelFunc(cancel)
	}
	for _, c := range []struct {
		name    string
		context func(*wire.Request) (context.Context, canceler)
	}{{"deadline", s.context}, {"std", std}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, err := wire.DecodeRequest(payload)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := c.context(req)
				_ = s.timed(ctx, &req.Event)
				cancel.Cancel()
			}
		})
	}
}
