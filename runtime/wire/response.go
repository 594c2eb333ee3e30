package wire

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/edgefn/edgefn/runtime/event"
)

// Response is the plugin's answer to one invocation: a Result or a Failure, and when the
// handler ran.
type Response struct {
	// Result is the handler's result; nil when it failed.
	Result *event.Result
	// Failure says why the invocation failed; nil when it succeeded. It wins over Result.
	Failure *Failure
	// Started and Finished are when the handler started and returned, in unix nanoseconds;
	// 0 from a plugin that does not say.
	Started, Finished int64
}

// Failure is a failed invocation, as the plugin reports it.
type Failure struct {
	Kind FailureKind
	// Status is the HTTP status the handler's error carries (an fn.Errorf); 0 for none.
	Status int
	// Message is the error's message, or what went wrong.
	Message string
}

// AppendResponse appends the encoding of r (a proto Response) to b. A Result's Err is not
// looked at: the caller turns a Result that failed to build into a Failure.
func AppendResponse(b []byte, r *Response) []byte {
	if b == nil {
		b = make([]byte, 0, sizeHint(r.Result))
	}
	if r.Failure != nil {
		var mark int
		b, mark = beginMessage(b, responseFailure)
		b = appendVarint(b, failureKind, uint64(r.Failure.Kind))
		b = appendVarint(b, failureStatus, uint64(int64(r.Failure.Status)))
		b = appendString(b, failureMessage, r.Failure.Message)
		b = endMessage(b, mark)
		return appendTimes(b, r)
	}
	res := r.Result
	if res == nil {
		res = &event.Result{}
	}
	b, mark := beginMessage(b, responseResult)
	b = appendVarint(b, resultStatus, uint64(int64(res.Status)))
	b = appendMap(b, resultHeaders, res.Headers)
	b = appendBytes(b, resultBody, res.Body)
	for k := range res.Emitted {
		b = appendEmitted(b, &res.Emitted[k])
	}
	for _, n := range res.Notified {
		var mark int
		b, mark = beginMessage(b, resultNotifications)
		b = appendString(b, notificationTopic, n.Topic)
		b = appendBytes(b, notificationData, n.Data)
		b = endMessage(b, mark)
	}
	b = endMessage(b, mark)
	return appendTimes(b, r)
}

func appendEmitted(b []byte, m *event.Message) []byte {
	b, mark := beginMessage(b, resultEmits)
	if m.Queue {
		b = appendVarint(b, messageKind, messageKindQueue)
	}
	b = appendString(b, messageTarget, m.Target)
	b = appendString(b, messageID, m.ID)
	b = appendString(b, messageType, m.Type)
	b = appendBytes(b, messageData, m.Data)
	b = appendString(b, messageContentType, m.ContentType)
	b = appendMap(b, messageHeaders, m.Headers)
	b = appendVarint(b, messagePriority, uint64(int64(m.Priority)))
	b = appendString(b, messageSubject, m.Subject)
	if m.CloudEvent {
		b = appendVarint(b, messageCloudEvent, 1)
	}
	if m.Delay != 0 {
		b = appendVarint(b, messageDelay, uint64(int64(m.Delay)))
	}
	if m.Cancel {
		b = appendVarint(b, messageCancel, 1)
	}
	return endMessage(b, mark)
}

func appendTimes(b []byte, r *Response) []byte {
	b = appendVarint(b, responseStarted, uint64(r.Started))
	return appendVarint(b, responseFinished, uint64(r.Finished))
}

// sizeHint is room enough for most responses carrying r in one allocation.
func sizeHint(r *event.Result) int {
	size := 64
	if r == nil {
		return size
	}
	size += len(r.Body)
	for k, v := range r.Headers {
		size += 8 + len(k) + len(v)
	}
	for _, m := range r.Emitted {
		size += 64 + len(m.Target) + len(m.Type) + len(m.Data)
	}
	for _, n := range r.Notified {
		size += 16 + len(n.Topic) + len(n.Data)
	}
	return size
}

// AppendBatchResponse appends resp, an encoded Response, to b, a proto BatchResponse being
// built, as its next answer.
func AppendBatchResponse(b []byte, resp []byte) []byte {
	return appendMessage(b, batchResponses, resp)
}

// DecodeResponse reads a proto Response. The Result's body points into b, which the caller
// must own and leave unchanged while the Result is in use; the rest is copied. A Response
// with neither a Result nor a Failure decodes without error: the caller decides what that
// means.
func DecodeResponse(b []byte) (Response, error) {
	var r Response
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case responseResult:
			return takeMessage(typ, b, func(v []byte) (err error) { r.Result, err = decodeResult(v); return err })
		case responseFailure:
			return takeMessage(typ, b, func(v []byte) (err error) { r.Failure, err = decodeFailure(v); return err })
		case responseStarted:
			return takeVarint(typ, b, &r.Started)
		case responseFinished:
			return takeVarint(typ, b, &r.Finished)
		}
		return 0
	})
	return r, err
}

// DecodeBatchResponse reads a proto BatchResponse, calling each with the index and the
// decoding of every answer in order, and returns how many it held. b is held as
// DecodeResponse holds it. err is set when the batch itself is malformed; an answer that
// does not decode is passed to each with its error, and the rest still are.
func DecodeBatchResponse(b []byte, each func(k int, r Response, err error)) (n int, err error) {
	err = fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		if num != batchResponses {
			return 0
		}
		return takeMessage(typ, b, func(v []byte) error {
			r, err := DecodeResponse(v)
			each(n, r, err)
			n++
			return nil
		})
	})
	return n, err
}

func decodeFailure(b []byte) (*Failure, error) {
	f := &Failure{}
	var kind, status int64
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case failureKind:
			return takeVarint(typ, b, &kind)
		case failureStatus:
			return takeVarint(typ, b, &status)
		case failureMessage:
			return takeString(typ, b, &f.Message)
		}
		return 0
	})
	f.Kind, f.Status = FailureKind(int32(kind)), int(int32(status))
	return f, err
}

func decodeResult(b []byte) (*event.Result, error) {
	r := &event.Result{}
	var status int64
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case resultStatus:
			return takeVarint(typ, b, &status)
		case resultHeaders:
			return takeMapEntry(typ, b, &r.Headers)
		case resultBody:
			return takeBytesShared(typ, b, &r.Body)
		case resultEmits:
			return takeMessage(typ, b, func(v []byte) error {
				m, err := decodeMessage(v)
				r.Emitted = append(r.Emitted, m)
				return err
			})
		case resultNotifications:
			return takeMessage(typ, b, func(v []byte) error {
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

func decodeMessage(b []byte) (event.Message, error) {
	var m event.Message
	var kind, priority, cloudEvent, delay, cancel int64
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case messageKind:
			return takeVarint(typ, b, &kind)
		case messageTarget:
			return takeString(typ, b, &m.Target)
		case messageID:
			return takeString(typ, b, &m.ID)
		case messageType:
			return takeString(typ, b, &m.Type)
		case messageData:
			return takeBytes(typ, b, &m.Data)
		case messageContentType:
			return takeString(typ, b, &m.ContentType)
		case messageHeaders:
			return takeMapEntry(typ, b, &m.Headers)
		case messagePriority:
			return takeVarint(typ, b, &priority)
		case messageSubject:
			return takeString(typ, b, &m.Subject)
		case messageCloudEvent:
			return takeVarint(typ, b, &cloudEvent)
		case messageDelay:
			return takeVarint(typ, b, &delay)
		case messageCancel:
			return takeVarint(typ, b, &cancel)
		}
		return 0
	})
	m.Queue, m.CloudEvent, m.Cancel = kind == messageKindQueue, cloudEvent != 0, cancel != 0
	m.Delay = time.Duration(delay)
	m.Priority = int(int32(priority))
	return m, err
}

func decodeNotification(b []byte) (event.Notification, error) {
	var n event.Notification
	var data []byte
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case notificationTopic:
			return takeString(typ, b, &n.Topic)
		case notificationData:
			return takeBytes(typ, b, &data)
		}
		return 0
	})
	n.Data = data
	return n, err
}
