package runtime

import (
	"encoding/json"
	"fmt"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/wire"
)

// The host's half of the data path's encoding: requests out, responses in. The bytes are the
// protobuf encoding of runtime/proto's Request and Response (function.proto is the schema and
// codec_test.go checks the two agree), written and read with protowire directly: reflection
// over generated types costs more than the rest of an invocation. Field numbers are in
// wire/schema.go.

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

// appendRequest appends the encoding of a Request carrying ev.
func appendRequest(b []byte, ev *fn.Event, deadline int64, traceparent, requestID string) ([]byte, error) {
	sp := getBuffer()
	defer putBuffer(sp)
	e, err := appendEvent((*sp)[:0], ev)
	*sp = e
	if err != nil {
		return b, err
	}
	b = wire.AppendMessage(b, wire.RequestEvent, e)
	b = wire.AppendVarint(b, wire.RequestDeadline, uint64(deadline))
	b = wire.AppendString(b, wire.RequestTraceparent, traceparent)
	b = wire.AppendString(b, wire.RequestID, requestID)
	return b, nil
}

func appendEvent(b []byte, ev *fn.Event) ([]byte, error) {
	b = wire.AppendString(b, wire.EventID, ev.ID)
	b = wire.AppendString(b, wire.EventType, ev.Type)
	b = wire.AppendString(b, wire.EventSource, ev.Source)
	b = wire.AppendString(b, wire.EventSubject, ev.Subject)
	if !ev.Time.IsZero() {
		b = wire.AppendVarint(b, wire.EventTime, uint64(ev.Time.UnixNano()))
	}
	b = wire.AppendBytes(b, wire.EventData, ev.Data)
	b = wire.AppendString(b, wire.EventContentType, ev.ContentType)
	b = wire.AppendString(b, wire.EventCorrelationID, ev.CorrelationID)
	b = wire.AppendVarint(b, wire.EventAttempt, uint64(int64(ev.Attempt)))
	b = wire.AppendMap(b, wire.EventHeaders, ev.Headers)
	if len(ev.Claims) > 0 {
		c, err := json.Marshal(ev.Claims)
		if err != nil {
			return b, fmt.Errorf("encode claims: %w", err)
		}
		b = wire.AppendBytes(b, wire.EventClaims, c)
	}
	b = wire.AppendString(b, wire.EventMethod, ev.Method)
	b = wire.AppendString(b, wire.EventPath, ev.Path)
	b = wire.AppendMap(b, wire.EventParams, ev.Params)
	if len(ev.Query) > 0 {
		b = wire.AppendString(b, wire.EventRawQuery, ev.Query.Encode())
	}
	return b, nil
}

// decodeResponse turns the plugin's answer into a Result or an error.
func decodeResponse(b []byte) (*fn.Result, error) {
	res, _, err := decodeAnswer(b)
	return res, err
}

// handlerTimes are when the plugin's handler started and returned (unix nanoseconds; zero
// from a plugin that does not say).
type handlerTimes struct{ started, finished int64 }

// decodeAnswer decodes a Response: the Result or the error, and when the handler ran. b must
// be the caller's own copy of the frame: the Result's body points into it.
func decodeAnswer(b []byte) (*fn.Result, handlerTimes, error) {
	var res *fn.Result
	var fail *failure
	var t handlerTimes
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.ResponseResult:
			return wire.TakeMessage(typ, b, func(v []byte) (err error) { res, err = decodeResult(v); return err })
		case wire.ResponseFailure:
			return wire.TakeMessage(typ, b, func(v []byte) (err error) { fail, err = decodeFailure(v); return err })
		case wire.ResponseStarted:
			return wire.TakeVarint(typ, b, &t.started)
		case wire.ResponseFinished:
			return wire.TakeVarint(typ, b, &t.finished)
		}
		return 0
	})
	switch {
	case err != nil:
		return nil, t, &FunctionError{Detail: "undecodable response: " + err.Error()}
	case fail != nil:
		return nil, t, fail.err()
	case res == nil:
		// An empty Result encodes as an empty message; proto3 leaves it present, so nil
		// here means the plugin sent neither.
		return nil, t, &FunctionError{Detail: "plugin sent an empty response"}
	}
	return res, t, nil
}

type failure struct {
	kind, status int64
	message      string
}

func (f *failure) err() error {
	switch f.kind {
	case wire.FailureCanceled:
		return ErrTimeout
	case wire.FailurePanic:
		return &FunctionError{Detail: f.message, Panic: true}
	case wire.FailureBadRequest:
		return &FunctionError{Detail: "plugin could not decode the request: " + f.message}
	}
	if f.status != 0 {
		return &fn.Error{Status: int(f.status), Message: f.message}
	}
	return &FunctionError{Detail: f.message}
}

func decodeFailure(b []byte) (*failure, error) {
	f := &failure{}
	return f, wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.FailureKind:
			return wire.TakeVarint(typ, b, &f.kind)
		case wire.FailureStatus:
			return wire.TakeVarint(typ, b, &f.status)
		case wire.FailureMessage:
			return wire.TakeString(typ, b, &f.message)
		}
		return 0
	})
}

func decodeResult(b []byte) (*fn.Result, error) {
	r := &fn.Result{}
	var status int64
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.ResultStatus:
			return wire.TakeVarint(typ, b, &status)
		case wire.ResultHeaders:
			return wire.TakeMapEntry(typ, b, &r.Headers)
		case wire.ResultBody:
			return wire.TakeBytesShared(typ, b, &r.Body)
		case wire.ResultEmits:
			return wire.TakeMessage(typ, b, func(v []byte) error {
				m, err := decodeMessage(v)
				r.Emitted = append(r.Emitted, m)
				return err
			})
		case wire.ResultNotifications:
			return wire.TakeMessage(typ, b, func(v []byte) error {
				n, err := decodeNotification(v)
				r.Notified = append(r.Notified, n)
				return err
			})
		}
		return 0
	})
	r.Status = int(int32(status))
	return r, err
}

func decodeMessage(b []byte) (fn.Message, error) {
	var m fn.Message
	var kind, priority int64
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.MessageKind:
			return wire.TakeVarint(typ, b, &kind)
		case wire.MessageTarget:
			return wire.TakeString(typ, b, &m.Target)
		case wire.MessageID:
			return wire.TakeString(typ, b, &m.ID)
		case wire.MessageType:
			return wire.TakeString(typ, b, &m.Type)
		case wire.MessageData:
			return wire.TakeBytes(typ, b, &m.Data)
		case wire.MessageContentType:
			return wire.TakeString(typ, b, &m.ContentType)
		case wire.MessageHeaders:
			return wire.TakeMapEntry(typ, b, &m.Headers)
		case wire.MessagePriority:
			return wire.TakeVarint(typ, b, &priority)
		case wire.MessageSubject:
			return wire.TakeString(typ, b, &m.Subject)
		}
		return 0
	})
	m.Queue = kind == wire.MessageKindQueue
	m.Priority = int(int32(priority))
	return m, err
}

func decodeNotification(b []byte) (fn.Notification, error) {
	var n fn.Notification
	var data []byte
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.NotificationTopic:
			return wire.TakeString(typ, b, &n.Topic)
		case wire.NotificationData:
			return wire.TakeBytes(typ, b, &data)
		}
		return 0
	})
	n.Data = data
	return n, err
}
