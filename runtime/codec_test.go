package runtime

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/fn"
	pb "github.com/edgefn/edgefn/runtime/proto"
)

// The hand-written encoding must be the protobuf encoding of function.proto: generated code
// reads what the host writes, and the host reads what generated code writes.

func TestRequestEncodingIsTheProtoSchema(t *testing.T) {
	when := time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC)
	ev := &fn.Event{
		ID: "id-1", Type: "T", Source: "http", Subject: "sub", Time: when, Data: []byte{0, 1, 2, 0xff},
		ContentType: "application/json", CorrelationID: "corr", Attempt: 3,
		Headers: map[string]string{"A": "1", "B": ""}, Claims: map[string]any{"sub": "u1", "n": 2.0},
		Method: "POST", Path: "/a/b", Params: map[string]string{"x": "y"}, Query: url.Values{"q": {"1", "2"}},
	}
	b, err := appendRequest(nil, ev, when.Add(time.Second).UnixNano(), "00-tp", "req-1")
	if err != nil {
		t.Fatal(err)
	}
	var got pb.Request
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	e := got.GetEvent()
	if e.GetId() != "id-1" || e.GetType() != "T" || e.GetSource() != "http" || e.GetSubject() != "sub" ||
		e.GetTimeUnixNano() != when.UnixNano() || string(e.GetData()) != string(ev.Data) ||
		e.GetContentType() != "application/json" || e.GetCorrelationId() != "corr" || e.GetAttempt() != 3 ||
		!reflect.DeepEqual(e.GetHeaders(), ev.Headers) || string(e.GetClaimsJson()) != `{"n":2,"sub":"u1"}` ||
		e.GetMethod() != "POST" || e.GetPath() != "/a/b" || !reflect.DeepEqual(e.GetParams(), ev.Params) ||
		e.GetRawQuery() != "q=1&q=2" {
		t.Fatalf("decoded event %v", e)
	}
	if got.GetDeadlineUnixNano() != when.Add(time.Second).UnixNano() || got.GetTraceparent() != "00-tp" || got.GetRequestId() != "req-1" {
		t.Fatalf("decoded request %v", &got)
	}
}

func TestResponseDecodingIsTheProtoSchema(t *testing.T) {
	resp := &pb.Response{Outcome: &pb.Response_Result{Result: &pb.Result{
		Status: 201, Headers: map[string]string{"Content-Type": "application/json"}, Body: []byte(`{"ok":true}`),
		Emits: []*pb.Message{
			{Kind: pb.Message_QUEUE, Target: "q", Id: "m1", Type: "T", Data: []byte("d"), ContentType: "ct",
				Headers: map[string]string{"h": "v"}, Priority: 7, Subject: "s"},
			{Kind: pb.Message_STREAM, Target: "s"},
		},
		Notifications: []*pb.Notification{{Topic: "orders.1", Data: []byte(`{"a":1}`)}},
	}}}
	b, _ := proto.Marshal(resp)
	res, err := decodeResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &fn.Result{
		Status: 201, Headers: map[string]string{"Content-Type": "application/json"}, Body: []byte(`{"ok":true}`),
		Emitted: []fn.Message{
			{Queue: true, Target: "q", ID: "m1", Type: "T", Data: []byte("d"), ContentType: "ct",
				Headers: map[string]string{"h": "v"}, Priority: 7, Subject: "s"},
			{Target: "s"},
		},
		Notified: []fn.Notification{{Topic: "orders.1", Data: []byte(`{"a":1}`)}},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("decoded %+v\nwant    %+v", res, want)
	}

	// An empty result is a result.
	b, _ = proto.Marshal(&pb.Response{Outcome: &pb.Response_Result{Result: &pb.Result{}}})
	if res, err := decodeResponse(b); err != nil || res.Status != 0 {
		t.Fatalf("empty result: %+v, %v", res, err)
	}
}

func TestFailureDecoding(t *testing.T) {
	cases := []struct {
		f     *pb.Failure
		check func(error) bool
	}{
		{&pb.Failure{Kind: pb.Failure_CANCELED}, func(err error) bool { return errors.Is(err, ErrTimeout) }},
		{&pb.Failure{Kind: pb.Failure_PANIC, Message: "boom"}, func(err error) bool {
			var fe *FunctionError
			return errors.As(err, &fe) && fe.Panic && fe.Detail == "boom"
		}},
		{&pb.Failure{Status: 409, Message: "taken"}, func(err error) bool {
			var fe *fn.Error
			return errors.As(err, &fe) && fe.Status == 409 && fe.Message == "taken"
		}},
		{&pb.Failure{Message: "db down"}, func(err error) bool {
			var fe *FunctionError
			return errors.As(err, &fe) && !fe.Panic && fe.Detail == "db down"
		}},
	}
	for _, c := range cases {
		b, _ := proto.Marshal(&pb.Response{Outcome: &pb.Response_Failure{Failure: c.f}})
		if _, err := decodeResponse(b); !c.check(err) {
			t.Errorf("failure %v decoded as %v", c.f, err)
		}
	}
	for _, junk := range [][]byte{{0xff}, {0x0a, 0x05, 0x01}, {}} {
		if _, err := decodeResponse(junk); err == nil {
			t.Errorf("junk % x decoded without error", junk)
		}
	}
}

func FuzzDecodeResponse(f *testing.F) {
	b, _ := proto.Marshal(&pb.Response{Outcome: &pb.Response_Result{Result: &pb.Result{Status: 200, Body: []byte("x"),
		Emits: []*pb.Message{{Target: "s"}}}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeResponse(data) // must not panic
	})
}
