package pluginserver

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgefn/edgefn/runtime/event"
	pb "github.com/edgefn/edgefn/runtime/proto"
)

// BenchmarkDecodeRequest decodes what the gateway sends functions/hello for GET /hello/x.
func BenchmarkDecodeRequest(b *testing.B) {
	payload, _ := proto.Marshal(&pb.Request{
		Event: &pb.Event{Id: "5f0c9b3e2a7d4c1e8b6a9d0f3e2c1b4a", Source: "http", TimeUnixNano: time.Now().UnixNano(),
			Attempt: 1, Headers: map[string]string{"Host": "127.0.0.1:8080", "User-Agent": "curl/8.0"},
			Method: "GET", Path: "/hello/x", Params: map[string]string{"name": "x"}},
		DeadlineUnixNano: time.Now().Add(30 * time.Second).UnixNano(), RequestId: "5f0c9b3e2a7d4c1e8b6a9d0f3e2c1b4a",
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRequest(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendResult encodes what functions/hello answers.
func BenchmarkAppendResult(b *testing.B) {
	r := &event.Result{Status: 200, Headers: map[string]string{"Content-Type": "application/json"},
		Body: []byte(`{"message":"hello, x"}`)}
	b.ReportAllocs()
	for b.Loop() {
		_ = appendResult(nil, r)
	}
}
