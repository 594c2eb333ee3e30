package runtime

import (
	"testing"

	"github.com/edgefn/edgefn/runtime/wire"
)

// BenchmarkDecodeAnswer decodes what functions/hello answers.
func BenchmarkDecodeAnswer(b *testing.B) {
	res := wire.AppendVarint(nil, wire.ResultStatus, 200)
	res = wire.AppendMap(res, wire.ResultHeaders, map[string]string{"Content-Type": "application/json"})
	res = wire.AppendBytes(res, wire.ResultBody, []byte(`{"message":"hello, x"}`))
	payload := wire.AppendMessage(nil, wire.ResponseResult, res)
	payload = wire.AppendVarint(payload, wire.ResponseStarted, 1)
	payload = wire.AppendVarint(payload, wire.ResponseFinished, 2)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decodeAnswer(payload); err != nil {
			b.Fatal(err)
		}
	}
}
