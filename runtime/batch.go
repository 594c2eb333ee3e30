package runtime

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/edgefn/edgefn/runtime/wire"
)

// Batches: queue and stream triggers hand a function what they received together, and the
// whole batch travels the invocation chain as one (see stage): one hold on the version, one
// breaker decision, one deadline, one frame each way. Per message there is no frame, syscall,
// timer or wake-up of its own, which is what a plugin call per message costs.

// decodeBatchResponse decodes a BatchResponse into the outcomes at the indices sent, in order.
// A response short of answers (a plugin that could not send them) fails the rest.
func decodeBatchResponse(b []byte, out []outcome, sent []int) {
	j := 0
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		if num != wire.BatchResponses {
			return 0
		}
		return wire.TakeMessage(typ, b, func(v []byte) error {
			if j < len(sent) {
				o := &out[sent[j]]
				o.res, o.ran, o.err = decodeAnswer(v)
			}
			j++
			return nil
		})
	})
	if err == nil && j == len(sent) {
		return
	}
	detail := "the plugin's batch answer is malformed"
	if err == nil {
		detail = "the plugin answered part of a batch"
		if failure, ferr := decodeFailure(b); ferr == nil && failure != nil {
			// The plugin could not send the answers (too large together): it says why.
			detail = failure.err().Error()
		}
	}
	for _, k := range sent[min(j, len(sent)):] {
		out[k].res, out[k].err = nil, &FunctionError{Detail: detail}
	}
}
