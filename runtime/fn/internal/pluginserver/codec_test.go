package pluginserver

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/wire"
)

func TestDecodeRequestReadsTheProtoSchema(t *testing.T) {
	when := time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC)
	b, _ := proto.Marshal(&pb.Request{
		Event: &pb.Event{Id: "i", Type: "T", Source: "queue/q", Subject: "s", TimeUnixNano: when.UnixNano(),
			Data: []byte("data"), ContentType: "ct", CorrelationId: "c", Attempt: 2,
			Headers: map[string]string{"H": "v"}, ClaimsJson: []byte(`{"sub":"u"}`), Method: "GET", Path: "/p",
			Params: map[string]string{"id": "7"}, RawQuery: "a=1&a=2"},
		DeadlineUnixNano: 99, Traceparent: "00-abc", RequestId: "r",
	})
	req, err := decodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	ev := &req.ev
	if ev.ID != "i" || ev.Type != "T" || ev.Source != "queue/q" || ev.Subject != "s" || !ev.Time.Equal(when) ||
		string(ev.Data) != "data" || ev.ContentType != "ct" || ev.CorrelationID != "c" || ev.Attempt != 2 ||
		ev.Headers["H"] != "v" || ev.Claims["sub"] != "u" || ev.Method != "GET" || ev.Path != "/p" ||
		ev.Params["id"] != "7" || len(ev.Query["a"]) != 2 {
		t.Fatalf("event %+v", ev)
	}
	if req.deadline != 99 || req.traceparent != "00-abc" || req.requestID != "r" {
		t.Fatalf("request %+v", req)
	}
	// An empty request still gives handlers maps they can index.
	req, err = decodeRequest(nil)
	if err != nil || req.ev.Headers == nil || req.ev.Params == nil || req.ev.Query == nil {
		t.Fatalf("empty request: %+v, %v", req, err)
	}
}

func TestAppendResultWritesTheProtoSchema(t *testing.T) {
	r := event.JSON(201, map[string]int{"a": 1}).
		Emit(event.ToQueue("q", "T", 1).WithPriority(5).WithSubject("s").WithID("m1"), event.ToStream("s", "U", 2)).
		Notify("orders.1", map[string]string{"x": "y"})
	var got pb.Response
	if err := proto.Unmarshal(appendResult(nil, r), &got); err != nil {
		t.Fatal(err)
	}
	res := got.GetResult()
	if res.GetStatus() != 201 || string(res.GetBody()) != `{"a":1}` || res.GetHeaders()["Content-Type"] != "application/json" {
		t.Fatalf("result %v", res)
	}
	e := res.GetEmits()
	if len(e) != 2 || e[0].GetKind() != pb.Message_QUEUE || e[0].GetTarget() != "q" || e[0].GetPriority() != 5 ||
		e[0].GetSubject() != "s" || e[0].GetId() != "m1" || e[1].GetKind() != pb.Message_STREAM || string(e[1].GetData()) != "2" {
		t.Fatalf("emits %v", e)
	}
	n := res.GetNotifications()
	if len(n) != 1 || n[0].GetTopic() != "orders.1" || string(n[0].GetData()) != `{"x":"y"}` {
		t.Fatalf("notifications %v", n)
	}
	if err := proto.Unmarshal(appendFailure(nil, wire.FailurePanic, 0, "boom"), &got); err != nil {
		t.Fatal(err)
	}
	if f := got.GetFailure(); f.GetKind() != pb.Failure_PANIC || f.GetMessage() != "boom" {
		t.Fatalf("failure %v", f)
	}
	// A result with nothing in it is still a result, not an empty response.
	if err := proto.Unmarshal(appendResult(nil, &event.Result{}), &got); err != nil || got.GetResult() == nil {
		t.Fatalf("empty result: %v %v", &got, err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	b, _ := proto.Marshal(&pb.Request{Event: &pb.Event{Id: "i", Headers: map[string]string{"a": "b"}}, RequestId: "r"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeRequest(data) // must not panic
	})
}

// The frame reader reuses a request's bytes: nothing decoded may point into them, whether the
// request is small (one copy, shared by its fields) or large (each field copied). A handler
// appending to its Data must not change the other fields either.
func TestDecodedRequestOwnsItsMemory(t *testing.T) {
	for _, size := range []int{10, sharedMax + 1} {
		body := bytes.Repeat([]byte("d"), size)
		b, _ := proto.Marshal(&pb.Request{
			Event: &pb.Event{Id: "id-1", Source: "http", Data: body, Headers: map[string]string{"Accept": "a/b"},
				Method: "GET", Path: "/p", Params: map[string]string{"name": "x"}, RawQuery: "q=v"},
			Traceparent: "00-abc", RequestId: "r-1",
		})
		req, err := decodeRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] = '#'
		}
		ev := &req.ev
		ev.Data = append(ev.Data, "tail"...)
		if ev.ID != "id-1" || ev.Source != "http" || ev.Headers["Accept"] != "a/b" || ev.Method != "GET" || ev.Path != "/p" ||
			ev.Params["name"] != "x" || ev.Query.Get("q") != "v" || req.traceparent != "00-abc" || req.requestID != "r-1" ||
			!bytes.Equal(ev.Data, append(body, "tail"...)) {
			t.Fatalf("%d-byte body: the decoded request changed with the frame's memory or its Data: %+v %+v", size, req, ev)
		}
	}
}
