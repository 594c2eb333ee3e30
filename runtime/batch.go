package runtime

import (
	"github.com/edgefn/edgefn/runtime/wire"
)

// Batches: queue and stream triggers hand a function what they received together, and the
// whole batch travels the invocation chain as one (see stage): one hold on the version, one
// breaker decision, one deadline, one frame each way. Per message there is no frame, syscall,
// timer or wake-up of its own, which is what a plugin call per message costs.

// decodeBatchResponse decodes a BatchResponse into the outcomes at the indices sent, in order.
// A response short of answers (a plugin that could not send them) fails the rest.
func decodeBatchResponse(b []byte, out []outcome, sent []int) {
	n, err := wire.DecodeBatchResponse(b, func(j int, r wire.Response, err error) {
		if j < len(sent) {
			o := &out[sent[j]]
			o.res, o.ran, o.err = answerOf(r, err)
		}
	})
	if err == nil && n == len(sent) {
		return
	}
	var fail error = &FunctionError{Detail: "the plugin's batch answer is malformed"}
	if err == nil {
		fail = &FunctionError{Detail: "the plugin answered part of a batch"}
		if r, rerr := wire.DecodeResponse(b); rerr == nil && r.Failure != nil {
			// The plugin could not send the answers (too large together): it says why.
			fail = failureError(r.Failure)
		}
	}
	for _, k := range sent[min(n, len(sent)):] {
		out[k].res, out[k].err = nil, fail
	}
}
