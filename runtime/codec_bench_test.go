package runtime

import (
	"testing"

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/wire"
)

// BenchmarkDecodeAnswer decodes what functions/hello answers.
func BenchmarkDecodeAnswer(b *testing.B) {
	payload := wire.AppendResponse(nil, &wire.Response{Result: &event.Result{Status: 200,
		Headers: map[string]string{"Content-Type": "application/json"}, Body: []byte(`{"message":"hello, x"}`)},
		Started: 1, Finished: 2})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decodeAnswer(payload); err != nil {
			b.Fatal(err)
		}
	}
}
