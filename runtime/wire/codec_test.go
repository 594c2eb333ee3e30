package wire

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
)

// The codec must write the very bytes the generated code of function.proto writes, and read
// what it writes: function.proto is the schema of the data path. Maps have one entry where
// bytes are compared (the order of a map's entries is free), several where values are.

// deterministic marshals m as the generated code does, with map entries in key order.
func deterministic(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameBytes fails t when got is not want, saying where they part.
func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: %d bytes written, the generated code writes %d; they part at byte %d (% x vs % x)",
		what, len(got), len(want), i, got[i:min(i+8, len(got))], want[i:min(i+8, len(want))])
}

// field returns the value of the first length-delimited field num of message b.
func field(t *testing.T, b []byte, num protowire.Number) []byte {
	t.Helper()
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			t.Fatal(protowire.ParseError(l))
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return v
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			t.Fatal(protowire.ParseError(l))
		}
		b = b[l:]
	}
	t.Fatalf("no field %d", num)
	return nil
}

var when = time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC)

// fullRequest sets every field of a Request, with a body of n bytes.
func fullRequest(n int) (*Request, *pb.Request) {
	body := bytes.Repeat([]byte{0, 1, 0xff}, n/3+1)[:n]
	ev := &event.Event{
		ID: "id-1", Type: "T", Source: "http", Subject: "sub", Time: when, Data: body,
		ContentType: "application/json", CorrelationID: "corr", Attempt: 3,
		Headers: map[string]string{"A": "1"}, Claims: map[string]any{"sub": "u1", "n": 2.0},
		Method: "POST", Path: "/a/b", Params: map[string]string{"x": "y"}, Query: url.Values{"q": {"1", "2"}},
	}
	if n == 0 {
		ev.Data = nil // as decoding gives it back
	}
	r := &Request{Event: *ev, Deadline: when.Add(time.Second).UnixNano(), Traceparent: "00-tp", RequestID: "req-1"}
	want := &pb.Request{
		Event: &pb.Event{Id: "id-1", Type: "T", Source: "http", Subject: "sub", TimeUnixNano: when.UnixNano(),
			Data: ev.Data, ContentType: "application/json", CorrelationId: "corr", Attempt: 3,
			Headers: map[string]string{"A": "1"}, ClaimsJson: []byte(`{"n":2,"sub":"u1"}`),
			Method: "POST", Path: "/a/b", Params: map[string]string{"x": "y"}, RawQuery: "q=1&q=2"},
		DeadlineUnixNano: when.Add(time.Second).UnixNano(), Traceparent: "00-tp", RequestId: "req-1",
	}
	return r, want
}

// Every body size tests a length prefix of one, two and three bytes.
var bodySizes = []int{0, 5, 200, 20000}

func TestRequestIsTheProtoRequest(t *testing.T) {
	for _, n := range bodySizes {
		r, want := fullRequest(n)
		got, err := AppendRequest([]byte("prefix"), r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("AppendRequest did not append: % x", got[:6])
		}
		sameBytes(t, fmt.Sprintf("%d-byte body", n), got[6:], deterministic(t, want))

		// Decoding what the generated code writes gives the request back, field by field.
		dec, err := DecodeRequest(deterministic(t, want))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(dec, r) {
			t.Fatalf("%d-byte body: decoded\n%+v %+v\nwant\n%+v %+v", n, dec, dec.Event, r, r.Event)
		}
	}
}

// Several entries per map, and the round trip through the codec both ways.
func TestRequestRoundTrip(t *testing.T) {
	r, want := fullRequest(10)
	r.Event.Headers = map[string]string{"A": "1", "B": "", "Content-Type": "text/plain"}
	r.Event.Params = map[string]string{"x": "y", "z": "w"}
	want.Event.Headers, want.Event.Params = r.Event.Headers, r.Event.Params
	b, err := AppendRequest(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	var got pb.Request
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, want) {
		t.Fatalf("generated code read\n%v\nwant\n%v", &got, want)
	}
	dec, err := DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dec, r) {
		t.Fatalf("round trip gave\n%+v\nwant\n%+v", dec.Event, r.Event)
	}

	// An empty request still gives handlers maps they can index.
	dec, err = DecodeRequest(nil)
	if err != nil || dec.Event.Headers == nil || dec.Event.Params == nil || dec.Event.Query == nil {
		t.Fatalf("empty request: %+v, %v", dec, err)
	}
	// An event with nothing set is still sent, and arrives with those maps too.
	b, _ = AppendRequest(nil, &Request{Event: event.Event{}})
	sameBytes(t, "empty event", b, deterministic(t, &pb.Request{Event: &pb.Event{}}))
	if dec, err = DecodeRequest(b); err != nil || dec.Event.Headers == nil || dec.Event.Query == nil {
		t.Fatalf("empty event: %+v, %v", dec, err)
	}
}

// A request whose claims cannot be encoded fails alone and leaves the buffer as it was.
func TestRequestWithBadClaims(t *testing.T) {
	bad := &Request{Event: event.Event{ID: "x", Claims: map[string]any{"f": func() {}}}}
	if b, err := AppendRequest([]byte("ab"), bad); err == nil || string(b) != "ab" {
		t.Fatalf("AppendRequest = %q, %v; want the buffer unchanged and an error", b, err)
	}
	if b, err := AppendBatchRequest([]byte("ab"), bad); err == nil || string(b) != "ab" {
		t.Fatalf("AppendBatchRequest = %q, %v; want the buffer unchanged and an error", b, err)
	}
}

func TestBatchRequestIsTheProtoBatchRequest(t *testing.T) {
	var b []byte
	want := &pb.BatchRequest{}
	var sent []*Request
	for _, n := range bodySizes {
		r, w := fullRequest(n)
		var err error
		if b, err = AppendBatchRequest(b, r); err != nil {
			t.Fatal(err)
		}
		want.Requests = append(want.Requests, w)
		sent = append(sent, r)
	}
	sameBytes(t, "batch request", b, deterministic(t, want))
	reqs, errs, err := DecodeBatchRequest(b)
	if err != nil || errs != nil || !reflect.DeepEqual(reqs, sent) {
		t.Fatalf("DecodeBatchRequest = %+v, %v, %v", reqs, errs, err)
	}

	// A request that does not decode fails alone; a broken batch fails as a whole.
	b = appendMessage(b, batchRequests, []byte{0xff})
	reqs, errs, err = DecodeBatchRequest(b)
	if err != nil || len(reqs) != len(sent)+1 || reqs[len(sent)] != nil || errs[len(sent)] == nil || errs[0] != nil {
		t.Fatalf("one bad request: %v, %v, %v", reqs, errs, err)
	}
	if _, _, err := DecodeBatchRequest([]byte{0x0a, 0x05, 0x01}); err == nil {
		t.Fatal("a truncated batch decoded without error")
	}
}

// fullResult sets every field of a Result and of its effects, with a body of n bytes.
func fullResult(n int) (*event.Result, *pb.Result) {
	body := bytes.Repeat([]byte("b"), n)
	r := &event.Result{
		Status: 201, Headers: map[string]string{"Content-Type": "application/json"}, Body: body,
		Emitted: []event.Message{
			{Queue: true, Target: "q", ID: "m1", Type: "T", Data: body, ContentType: "ct",
				Headers: map[string]string{"h": "v"}, Priority: 7, Subject: "s", CloudEvent: true,
				Delay: 90 * time.Second, Cancel: true},
			{Target: "s"},
		},
		Notified: []event.Notification{{Topic: "orders.1", Data: []byte(`{"a":1}`)}},
	}
	want := &pb.Result{
		Status: 201, Headers: map[string]string{"Content-Type": "application/json"}, Body: body,
		Emits: []*pb.Message{
			{Kind: pb.Message_QUEUE, Target: "q", Id: "m1", Type: "T", Data: body, ContentType: "ct",
				Headers: map[string]string{"h": "v"}, Priority: 7, Subject: "s", CloudEvent: true,
				DelayNanos: int64(90 * time.Second), Cancel: true},
			{Kind: pb.Message_STREAM, Target: "s"},
		},
		Notifications: []*pb.Notification{{Topic: "orders.1", Data: []byte(`{"a":1}`)}},
	}
	if n == 0 {
		r.Body, want.Body = nil, nil
		r.Emitted[0].Data, want.Emits[0].Data = nil, nil
	}
	return r, want
}

// The messages the tests compare set every field function.proto has, so that a field added
// to the schema and not to the codec fails them.
func TestTheTestsSetEveryField(t *testing.T) {
	_, req := fullRequest(10)
	_, res := fullResult(10)
	for _, m := range []proto.Message{req, req.Event, res, res.Emits[0], res.Notifications[0]} {
		r := m.ProtoReflect()
		fields := r.Descriptor().Fields()
		for i := range fields.Len() {
			if f := fields.Get(i); !r.Has(f) {
				t.Errorf("%s: the test leaves %s unset", r.Descriptor().FullName(), f.Name())
			}
		}
	}
}

func TestResponseIsTheProtoResponse(t *testing.T) {
	for _, n := range bodySizes {
		res, wantRes := fullResult(n)
		r := &Response{Result: res, Started: 11, Finished: 12}
		want := &pb.Response{Outcome: &pb.Response_Result{Result: wantRes}, StartedUnixNano: 11, FinishedUnixNano: 12}
		got := AppendResponse(nil, r)
		sameBytes(t, fmt.Sprintf("%d-byte body", n), field(t, got, responseResult), deterministic(t, wantRes))
		sameResponse(t, got, want)
		dec, err := DecodeResponse(deterministic(t, want))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&dec, r) {
			t.Fatalf("%d-byte body: decoded\n%+v\nwant\n%+v", n, dec.Result, r.Result)
		}
	}
}

func TestFailureIsTheProtoFailure(t *testing.T) {
	for _, c := range []struct {
		f    Failure
		want *pb.Failure
	}{
		{Failure{Kind: FailureError, Status: 409, Message: "taken"}, &pb.Failure{Kind: pb.Failure_ERROR, Status: 409, Message: "taken"}},
		{Failure{Kind: FailureError, Message: "db down"}, &pb.Failure{Message: "db down"}},
		{Failure{Kind: FailurePanic, Message: "boom"}, &pb.Failure{Kind: pb.Failure_PANIC, Message: "boom"}},
		{Failure{Kind: FailureCanceled}, &pb.Failure{Kind: pb.Failure_CANCELED}},
		{Failure{Kind: FailureBadRequest, Message: "x"}, &pb.Failure{Kind: pb.Failure_BAD_REQUEST, Message: "x"}},
	} {
		r := &Response{Failure: &c.f, Started: 1, Finished: 2}
		want := &pb.Response{Outcome: &pb.Response_Failure{Failure: c.want}, StartedUnixNano: 1, FinishedUnixNano: 2}
		got := AppendResponse(nil, r)
		sameBytes(t, fmt.Sprintf("%+v", c.f), field(t, got, responseFailure), deterministic(t, c.want))
		sameResponse(t, got, want)
		if dec, err := DecodeResponse(deterministic(t, want)); err != nil || !reflect.DeepEqual(&dec, r) {
			t.Fatalf("%v decoded as %+v, %v", want, dec.Failure, err)
		}
	}
}

// sameResponse fails t unless the generated code reads got as want. (It writes a oneof after
// the other fields, the codec in field order: both are the protobuf encoding.)
func sameResponse(t *testing.T, got []byte, want *pb.Response) {
	t.Helper()
	var r pb.Response
	if err := proto.Unmarshal(got, &r); err != nil || !proto.Equal(&r, want) {
		t.Fatalf("the generated code reads the response as %v, %v", &r, err)
	}
}

// An empty Result is a result, not an empty response; a nil one is sent as an empty one.
func TestEmptyResult(t *testing.T) {
	want := deterministic(t, &pb.Response{Outcome: &pb.Response_Result{Result: &pb.Result{}}})
	for _, res := range []*event.Result{{}, nil} {
		sameBytes(t, fmt.Sprintf("result %v", res), AppendResponse(nil, &Response{Result: res}), want)
	}
	r, err := DecodeResponse(want)
	if err != nil || r.Result == nil || r.Failure != nil || r.Result.Status != 0 {
		t.Fatalf("empty result decoded as %+v, %v", r, err)
	}
	if r, err := DecodeResponse(nil); err != nil || r.Result != nil || r.Failure != nil {
		t.Fatalf("empty response decoded as %+v, %v", r, err)
	}
}

func TestBatchResponseIsTheProtoBatchResponse(t *testing.T) {
	var b []byte
	want := &pb.BatchResponse{}
	var sent []Response
	for k, n := range bodySizes {
		res, wantRes := fullResult(n)
		r := Response{Result: res, Started: int64(k + 1)}
		w := &pb.Response{Outcome: &pb.Response_Result{Result: wantRes}, StartedUnixNano: int64(k + 1)}
		if k == 1 {
			r = Response{Failure: &Failure{Kind: FailurePanic, Message: "boom"}}
			w = &pb.Response{Outcome: &pb.Response_Failure{Failure: &pb.Failure{Kind: pb.Failure_PANIC, Message: "boom"}}}
		}
		b = AppendBatchResponse(b, AppendResponse(nil, &r))
		want.Responses = append(want.Responses, w)
		sent = append(sent, r)
	}
	var gotPB pb.BatchResponse
	if err := proto.Unmarshal(b, &gotPB); err != nil || !proto.Equal(&gotPB, want) {
		t.Fatalf("the generated code reads the batch answer as %v, %v", &gotPB, err)
	}
	var got []Response
	n, err := DecodeBatchResponse(b, func(k int, r Response, err error) {
		if k != len(got) || err != nil {
			t.Errorf("answer %d passed as %d, %v", len(got), k, err)
		}
		got = append(got, r)
	})
	if err != nil || n != len(sent) || !reflect.DeepEqual(got, sent) {
		t.Fatalf("DecodeBatchResponse = %d, %v:\n%+v\nwant\n%+v", n, err, got, sent)
	}

	// An answer that does not decode is passed on with its error, and the rest still are.
	b = appendMessage(appendMessage(nil, batchResponses, []byte{0xff}), batchResponses, AppendResponse(nil, &sent[0]))
	var errs []error
	n, err = DecodeBatchResponse(b, func(_ int, _ Response, err error) { errs = append(errs, err) })
	if err != nil || n != 2 || errs[0] == nil || errs[1] != nil {
		t.Fatalf("one bad answer: %d, %v, %v", n, err, errs)
	}
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
		req, err := DecodeRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] = '#'
		}
		ev := &req.Event
		ev.Data = append(ev.Data, "tail"...)
		if ev.ID != "id-1" || ev.Source != "http" || ev.Headers["Accept"] != "a/b" || ev.Method != "GET" || ev.Path != "/p" ||
			ev.Params["name"] != "x" || ev.Query.Get("q") != "v" || req.Traceparent != "00-abc" || req.RequestID != "r-1" ||
			!bytes.Equal(ev.Data, append(body, "tail"...)) {
			t.Fatalf("%d-byte body: the decoded request changed with the frame's memory or its Data: %+v %+v", size, req, ev)
		}
	}
}

// Malformed payloads are errors, never panics or silent successes.
func TestMalformedPayloads(t *testing.T) {
	for _, junk := range [][]byte{{0xff}, {0x0a, 0x05, 0x01}, {0x0a, 0x02, 0x5a, 0x01}} {
		if _, err := DecodeRequest(junk); err == nil {
			t.Errorf("request % x decoded without error", junk)
		}
		if _, err := DecodeResponse(junk); err == nil {
			t.Errorf("response % x decoded without error", junk)
		}
	}
	claims, _ := proto.Marshal(&pb.Request{Event: &pb.Event{ClaimsJson: []byte("{")}})
	if _, err := DecodeRequest(claims); err == nil {
		t.Error("claims that are not JSON decoded without error")
	}
}

func FuzzDecodeRequest(f *testing.F) {
	_, want := fullRequest(10)
	b, _ := proto.Marshal(want)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeRequest(data) // must not panic
		_, _, _ = DecodeBatchRequest(data)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	_, res := fullResult(10)
	b, _ := proto.Marshal(&pb.Response{Outcome: &pb.Response_Result{Result: res}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeResponse(data) // must not panic
		_, _ = DecodeBatchResponse(data, func(int, Response, error) {})
	})
}
