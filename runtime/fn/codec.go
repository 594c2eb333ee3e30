package fn

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/edgefn/edgefn/runtime/wire"
)

// The plugin's half of the data path's encoding: requests in, responses out. The bytes are the
// protobuf encoding of runtime/proto's Request and Response (function.proto is the schema;
// codec_test.go checks the two agree), read and written with protowire directly because
// reflection over generated types costs more than a small handler. Field numbers are in
// wire/schema.go.

// request is a decoded Request.
type request struct {
	ev          *Event
	deadline    int64
	traceparent string
	requestID   string
}

// decodeRequest reads a Request. Everything it returns is a copy: the frame's memory is reused.
func decodeRequest(b []byte) (*request, error) {
	r := &request{}
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.RequestEvent:
			return wire.TakeMessage(typ, b, func(v []byte) (err error) {
				r.ev, err = decodeEvent(v)
				return err
			})
		case wire.RequestDeadline:
			return wire.TakeVarint(typ, b, &r.deadline)
		case wire.RequestTraceparent:
			return wire.TakeString(typ, b, &r.traceparent)
		case wire.RequestID:
			return wire.TakeString(typ, b, &r.requestID)
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	if r.ev == nil {
		r.ev = &Event{}
		fillEvent(r.ev, "")
	}
	return r, nil
}

func decodeEvent(b []byte) (*Event, error) {
	ev := &Event{}
	var t, attempt int64
	var claims []byte
	var rawQuery string
	err := wire.Fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case wire.EventID:
			return wire.TakeString(typ, b, &ev.ID)
		case wire.EventType:
			return wire.TakeString(typ, b, &ev.Type)
		case wire.EventSource:
			return wire.TakeString(typ, b, &ev.Source)
		case wire.EventSubject:
			return wire.TakeString(typ, b, &ev.Subject)
		case wire.EventTime:
			return wire.TakeVarint(typ, b, &t)
		case wire.EventData:
			return wire.TakeBytes(typ, b, &ev.Data)
		case wire.EventContentType:
			return wire.TakeString(typ, b, &ev.ContentType)
		case wire.EventCorrelationID:
			return wire.TakeString(typ, b, &ev.CorrelationID)
		case wire.EventAttempt:
			return wire.TakeVarint(typ, b, &attempt)
		case wire.EventHeaders:
			return wire.TakeMapEntry(typ, b, &ev.Headers)
		case wire.EventClaims:
			return wire.TakeBytes(typ, b, &claims)
		case wire.EventMethod:
			return wire.TakeString(typ, b, &ev.Method)
		case wire.EventPath:
			return wire.TakeString(typ, b, &ev.Path)
		case wire.EventParams:
			return wire.TakeMapEntry(typ, b, &ev.Params)
		case wire.EventRawQuery:
			return wire.TakeString(typ, b, &rawQuery)
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	if t != 0 {
		ev.Time = time.Unix(0, t).UTC()
	}
	ev.Attempt = int(int32(attempt))
	if len(claims) > 0 {
		if err := json.Unmarshal(claims, &ev.Claims); err != nil {
			return nil, fmt.Errorf("decode claims: %w", err)
		}
	}
	fillEvent(ev, rawQuery)
	return ev, nil
}

// fillEvent gives the maps a handler may index their empty values and parses the query.
func fillEvent(ev *Event, rawQuery string) {
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
func appendResult(b []byte, r *Result) []byte {
	res := wire.AppendVarint(nil, wire.ResultStatus, uint64(int64(r.Status)))
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
	return wire.AppendMessage(b, wire.ResponseResult, res)
}

// appendFailure appends a Response carrying a Failure.
func appendFailure(b []byte, kind int, status int, msg string) []byte {
	f := wire.AppendVarint(nil, wire.FailureKind, uint64(kind))
	f = wire.AppendVarint(f, wire.FailureStatus, uint64(int64(status)))
	f = wire.AppendString(f, wire.FailureMessage, msg)
	return wire.AppendMessage(b, wire.ResponseFailure, f)
}
