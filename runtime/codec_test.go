package runtime

import (
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
	"github.com/edgefn/edgefn/runtime/wire"
)

// runtime/wire reads the plugin's answers (its tests hold them to function.proto); here each
// answer must become the Result or the runtime error a caller acts on.

func TestAnswerIsTheResult(t *testing.T) {
	b, _ := proto.Marshal(&pb.Response{Outcome: &pb.Response_Result{Result: &pb.Result{
		Status: 201, Headers: map[string]string{"Content-Type": "application/json"}, Body: []byte(`{"ok":true}`),
		Notifications: []*pb.Notification{{Topic: "orders.1", Data: []byte(`{"a":1}`)}},
	}}, StartedUnixNano: 5, FinishedUnixNano: 7})
	res, ran, err := decodeAnswer(b)
	want := &event.Result{Status: 201, Headers: map[string]string{"Content-Type": "application/json"},
		Body: []byte(`{"ok":true}`), Notified: []event.Notification{{Topic: "orders.1", Data: []byte(`{"a":1}`)}}}
	if err != nil || !reflect.DeepEqual(res, want) || ran != (handlerTimes{5, 7}) {
		t.Fatalf("decoded %+v, %v, %v", res, ran, err)
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
		{&pb.Failure{Kind: pb.Failure_BAD_REQUEST, Message: "bad"}, func(err error) bool {
			var fe *FunctionError
			return errors.As(err, &fe) && !fe.Panic && fe.Detail == "plugin could not decode the request: bad"
		}},
		{&pb.Failure{Status: 409, Message: "taken"}, func(err error) bool {
			var fe *event.Error
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
	// Junk, and an answer with neither a result nor a failure, fail the call.
	for _, junk := range [][]byte{{0xff}, {0x0a, 0x05, 0x01}, {}} {
		var fe *FunctionError
		if _, err := decodeResponse(junk); !errors.As(err, &fe) {
			t.Errorf("junk % x decoded as %v, want a FunctionError", junk, err)
		}
	}
}

// A batch answer short of answers fails the events left; when the plugin sent a failure in
// its place (the answers were too large together), they fail with what it said.
func TestShortBatchAnswer(t *testing.T) {
	ok := wire.AppendResponse(nil, &wire.Response{Result: &event.Result{Status: 200}})
	out := make([]outcome, 3)
	decodeBatchResponse(wire.AppendBatchResponse(nil, ok), out, []int{0, 2})
	var fe *FunctionError
	if out[0].err != nil || out[0].res.Status != 200 || !errors.As(out[2].err, &fe) ||
		fe.Detail != "the plugin answered part of a batch" || out[1] != (outcome{}) {
		t.Fatalf("short batch: %+v", out)
	}

	tooLarge := wire.AppendResponse(nil, &wire.Response{Failure: &wire.Failure{Message: "response of 99 bytes exceeds the limit"}})
	out = make([]outcome, 2)
	decodeBatchResponse(tooLarge, out, []int{0, 1})
	for k, o := range out {
		if !errors.As(o.err, &fe) || fe.Detail != "response of 99 bytes exceeds the limit" {
			t.Fatalf("answer %d of a batch the plugin could not send: %v", k, o.err)
		}
	}
}
