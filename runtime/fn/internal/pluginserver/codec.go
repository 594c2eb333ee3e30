package pluginserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/wire"
)

// The plugin's half of the data path's encoding: requests in, responses out. The bytes are the
// protobuf encoding of runtime/proto's Request and Response (function.proto is the schema;
// codec_test.go checks the two agree), read and written with protowire directly because
// reflection over generated types costs more than a small handler. Field numbers are in
// wire/schema.go.

// request is a decoded Request; its event is part of it (one allocation for both).
type request struct {
	ev          event.Event
	deadline    int64
	traceparent string
	requestID   string
}

// sharedMax is the largest request decoded into one copy of its bytes (see decodeRequest).
const sharedMax = 4 << 10

// decodeRequest reads a Request. Nothing it returns points into b, which the frame reader
// reuses. A request of up to sharedMax bytes is copied once and its strings and data point into
// that copy; a larger one has each field copied, so that a string a handler keeps (an ID, a
// header) does not keep a large body alive.
func decodeRequest(b []byte) (*request, error) {
	takes := copying
	if len(b) <= sharedMax {
		b = bytes.Clone(b)
		takes = sharing
	}
	r := &request{}
	hasEvent := false
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.RequestEvent:
			return wire.TakeMessage(typ, b, func(v []byte) (err error) {
				hasEvent = true
				return decodeEvent(&r.ev, v, takes)
			})
		case wire.RequestDeadline:
			return wire.TakeVarint(typ, b, &r.deadline)
		case wire.RequestTraceparent:
			return takes.str(typ, b, &r.traceparent)
		case wire.RequestID:
			return takes.str(typ, b, &r.requestID)
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	if !hasEvent {
		fillEvent(&r.ev, "")
	}
	return r, nil
}

// takers read a request's strings, bytes and map entries: as copies, or pointing into a
// payload the request owns.
type takers struct {
	str   func(protowire.Type, []byte, *string) int
	bytes func(protowire.Type, []byte, *[]byte) int
	entry func(protowire.Type, []byte, *map[string]string) int
}

var (
	copying = takers{wire.TakeString, wire.TakeBytes, wire.TakeMapEntry}
	sharing = takers{wire.TakeStringShared, wire.TakeBytesShared, wire.TakeMapEntryShared}
)

// decodeEvent decodes an Event into ev, a zero one.
func decodeEvent(ev *event.Event, b []byte, takes takers) error {
	var t, attempt int64
	var claims []byte
	var rawQuery string
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.EventID:
			return takes.str(typ, b, &ev.ID)
		case wire.EventType:
			return takes.str(typ, b, &ev.Type)
		case wire.EventSource:
			return takes.str(typ, b, &ev.Source)
		case wire.EventSubject:
			return takes.str(typ, b, &ev.Subject)
		case wire.EventTime:
			return wire.TakeVarint(typ, b, &t)
		case wire.EventData:
			return takes.bytes(typ, b, &ev.Data)
		case wire.EventContentType:
			return takes.str(typ, b, &ev.ContentType)
		case wire.EventCorrelationID:
			return takes.str(typ, b, &ev.CorrelationID)
		case wire.EventAttempt:
			return wire.TakeVarint(typ, b, &attempt)
		case wire.EventHeaders:
			return takes.entry(typ, b, &ev.Headers)
		case wire.EventClaims:
			return wire.TakeBytesShared(typ, b, &claims) // only read here
		case wire.EventMethod:
			return takes.str(typ, b, &ev.Method)
		case wire.EventPath:
			return takes.str(typ, b, &ev.Path)
		case wire.EventParams:
			return takes.entry(typ, b, &ev.Params)
		case wire.EventRawQuery:
			return takes.str(typ, b, &rawQuery) // the parsed values may point into it
		}
		return 0
	})
	if err != nil {
		return err
	}
	if t != 0 {
		ev.Time = time.Unix(0, t).UTC()
	}
	ev.Attempt = int(int32(attempt))
	if len(claims) > 0 {
		if err := json.Unmarshal(claims, &ev.Claims); err != nil {
			return fmt.Errorf("decode claims: %w", err)
		}
	}
	fillEvent(ev, rawQuery)
	return nil
}

// fillEvent gives the maps a handler may index their empty values and parses the query.
func fillEvent(ev *event.Event, rawQuery string) {
	if rawQuery != "" {
		ev.Query, _ = url.ParseQuery(rawQuery)
	} else {
		ev.Query = url.Values{}
	}
	if ev.Headers == nil {
		ev.Headers = map[string]string{}
	}
	if ev.Params == nil {
		ev.Params = map[string]string{}
	}
}

// appendResult appends a Response carrying r's Result.
func appendResult(b []byte, r *event.Result) []byte {
	size := 16 + len(r.Body)
	for k, v := range r.Headers {
		size += 8 + len(k) + len(v)
	}
	res := make([]byte, 0, size)
	res = wire.AppendVarint(res, wire.ResultStatus, uint64(int64(r.Status)))
	res = wire.AppendMap(res, wire.ResultHeaders, r.Headers)
	res = wire.AppendBytes(res, wire.ResultBody, r.Body)
	for _, m := range r.Emitted {
		var mb []byte
		if m.Queue {
			mb = wire.AppendVarint(mb, wire.MessageKind, wire.MessageKindQueue)
		}
		mb = wire.AppendString(mb, wire.MessageTarget, m.Target)
		mb = wire.AppendString(mb, wire.MessageID, m.ID)
		mb = wire.AppendString(mb, wire.MessageType, m.Type)
		mb = wire.AppendBytes(mb, wire.MessageData, m.Data)
		mb = wire.AppendString(mb, wire.MessageContentType, m.ContentType)
		mb = wire.AppendMap(mb, wire.MessageHeaders, m.Headers)
		mb = wire.AppendVarint(mb, wire.MessagePriority, uint64(int64(m.Priority)))
		mb = wire.AppendString(mb, wire.MessageSubject, m.Subject)
		res = wire.AppendMessage(res, wire.ResultEmits, mb)
	}
	for _, n := range r.Notified {
		nb := wire.AppendString(nil, wire.NotificationTopic, n.Topic)
		nb = wire.AppendBytes(nb, wire.NotificationData, n.Data)
		res = wire.AppendMessage(res, wire.ResultNotifications, nb)
	}
	if b == nil {
		// Room for the message's tag and length, and for the two times run appends.
		b = make([]byte, 0, len(res)+32)
	}
	return wire.AppendMessage(b, wire.ResponseResult, res)
}

// appendFailure appends a Response carrying a Failure.
func appendFailure(b []byte, kind int, status int, msg string) []byte {
	f := wire.AppendVarint(nil, wire.FailureKind, uint64(kind))
	f = wire.AppendVarint(f, wire.FailureStatus, uint64(int64(status)))
	f = wire.AppendString(f, wire.FailureMessage, msg)
	return wire.AppendMessage(b, wire.ResponseFailure, f)
}
