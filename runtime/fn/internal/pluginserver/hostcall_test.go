package pluginserver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/wire"
)

// A handler's host call reaches the host as a KindHostCall frame and the host's reply comes
// back to it; a call the host never answers ends with the handler's ctx.
func TestHostCall(t *testing.T) {
	srv := &dataServer{function: "f", handler: HandlerFunc(func(ctx context.Context, ev *event.Event) (*event.Result, error) {
		if ev.ID == "silent" {
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, err := HostCall(ctx, []byte(`{"op":"silent"}`))
			return &event.Result{Body: []byte(err.Error())}, nil
		}
		reply, err := HostCall(ctx, []byte(`{"op":"`+ev.ID+`"}`))
		if err != nil {
			return nil, err
		}
		return &event.Result{Body: reply}, nil
	})}
	host, plugin := net.Pipe()
	go srv.serve(plugin)
	conn := wire.NewConn(host)
	t.Cleanup(func() { conn.Close() })
	answers := make(chan *pb.Response, 4)
	go conn.ReadLoop(func(f wire.Frame) {
		switch f.Kind {
		case wire.KindHostCall:
			if string(f.Payload) == `{"op":"silent"}` {
				return
			}
			go func(id uint64, req string) {
				_ = conn.Send(wire.Frame{Kind: wire.KindHostReply, ID: id, Payload: []byte(`{"asked":` + req + `}`)})
			}(f.ID, string(f.Payload))
		case wire.KindResponse:
			resp := &pb.Response{}
			if err := proto.Unmarshal(f.Payload, resp); err != nil {
				t.Error(err)
			}
			answers <- resp
		}
	})
	for _, id := range []string{"presence", "silent"} {
		b, _ := proto.Marshal(&pb.Request{Event: &pb.Event{Id: id}, DeadlineUnixNano: time.Now().Add(10 * time.Second).UnixNano()})
		if err := conn.Send(wire.Frame{Kind: wire.KindRequest, ID: 1, Payload: b}); err != nil {
			t.Fatal(err)
		}
		var resp *pb.Response
		select {
		case resp = <-answers:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer", id)
		}
		want := `{"asked":{"op":"presence"}}`
		if id == "silent" {
			want = context.DeadlineExceeded.Error()
		}
		if got := string(resp.GetResult().GetBody()); got != want {
			t.Errorf("%s: body %q (failure %v), want %q", id, got, resp.GetFailure(), want)
		}
	}
	if _, err := HostCall(context.Background(), []byte(`{}`)); !errors.Is(err, ErrNoHost) {
		t.Errorf("a host call outside an invocation: %v, want ErrNoHost", err)
	}
}
