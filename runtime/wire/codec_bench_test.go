package wire

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
)

// The payloads of functions/hello's GET /hello/x, each way, on each side.

func helloEvent() *event.Event {
	return &event.Event{ID: "5f0c9b3e2a7d4c1e8b6a9d0f3e2c1b4a", Source: "http", Time: time.Now(), Attempt: 1,
		Headers: map[string]string{"Host": "127.0.0.1:8080", "User-Agent": "curl/8.0"},
		Method:  "GET", Path: "/hello/x", Params: map[string]string{"name": "x"}}
}

func helloResult() *event.Result {
	return &event.Result{Status: 200, Headers: map[string]string{"Content-Type": "application/json"},
		Body: []byte(`{"message":"hello, x"}`)}
}

// BenchmarkAppendRequest encodes what the gateway sends functions/hello (the host's side).
func BenchmarkAppendRequest(b *testing.B) {
	r := &Request{Event: *helloEvent(), Deadline: time.Now().Add(30 * time.Second).UnixNano(),
		RequestID: "5f0c9b3e2a7d4c1e8b6a9d0f3e2c1b4a"}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendRequest(buf[:0], r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequest decodes what the gateway sends functions/hello (the plugin's side).
func BenchmarkDecodeRequest(b *testing.B) {
	payload, _ := proto.Marshal(&pb.Request{
		Event: &pb.Event{Id: "5f0c9b3e2a7d4c1e8b6a9d0f3e2c1b4a", Source: "http", TimeUnixNano: time.Now().UnixNano(),
			Attempt: 1, Headers: map[string]string{"Host": "127.0.0.1:8080", "User-Agent": "curl/8.0"},
			Method: "GET", Path: "/hello/x", Params: map[string]string{"name": "x"}},
		DeadlineUnixNano: time.Now().Add(30 * time.Second).UnixNano(), RequestId: "5f0c9b3e2a7d4c1e8b6a9d0f3e2c1b4a",
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequest(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendResult encodes what functions/hello answers (the plugin's side).
func BenchmarkAppendResult(b *testing.B) {
	r := &Response{Result: helloResult(), Started: 1, Finished: 2}
	b.ReportAllocs()
	for b.Loop() {
		_ = AppendResponse(nil, r)
	}
}

// BenchmarkDecodeResponse decodes what functions/hello answers (the host's side).
func BenchmarkDecodeResponse(b *testing.B) {
	payload := AppendResponse(nil, &Response{Result: helloResult(), Started: 1, Finished: 2})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(payload); err != nil {
			b.Fatal(err)
		}
	}
}
