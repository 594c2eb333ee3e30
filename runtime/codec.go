package runtime

import (
	"sync"

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/wire"
)

// The host's side of the data path's payloads: runtime/wire encodes the requests and decodes
// the plugin's answers; here an answer's failure becomes the runtime's error for it.

// buffers recycles encoding buffers; one that grew past maxPooled (a large body) is dropped
// rather than kept.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooled = 64 << 10

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		buffers.Put(b)
	}
}

// decodeResponse turns the plugin's answer into a Result or an error.
func decodeResponse(b []byte) (*event.Result, error) {
	res, _, err := decodeAnswer(b)
	return res, err
}

// handlerTimes are when the plugin's handler started and returned (unix nanoseconds; zero
// from a plugin that does not say).
type handlerTimes struct{ started, finished int64 }

// decodeAnswer decodes a Response: the Result or the error, and when the handler ran. b must
// be the caller's own copy of the frame: the Result's body points into it.
func decodeAnswer(b []byte) (*event.Result, handlerTimes, error) {
	return answerOf(wire.DecodeResponse(b))
}

// answerOf is the Result or the error a decoded Response stands for.
func answerOf(r wire.Response, err error) (*event.Result, handlerTimes, error) {
	t := handlerTimes{r.Started, r.Finished}
	switch {
	case err != nil:
		return nil, t, &FunctionError{Detail: "undecodable response: " + err.Error()}
	case r.Failure != nil:
		return nil, t, failureError(r.Failure)
	case r.Result == nil:
		// An empty Result encodes as an empty message; proto3 leaves it present, so nil
		// here means the plugin sent neither.
		return nil, t, &FunctionError{Detail: "plugin sent an empty response"}
	}
	return r.Result, t, nil
}

// failureError is the error an invocation that failed in the plugin ends with.
func failureError(f *wire.Failure) error {
	switch f.Kind {
	case wire.FailureCanceled:
		return ErrTimeout
	case wire.FailurePanic:
		return &FunctionError{Detail: f.Message, Panic: true}
	case wire.FailureBadRequest:
		return &FunctionError{Detail: "plugin could not decode the request: " + f.Message}
	}
	if f.Status != 0 {
		return &event.Error{Status: f.Status, Message: f.Message}
	}
	return &FunctionError{Detail: f.Message}
}
