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
// reflection over generated types costs more than a small handler. Field numbers follow the
// .proto file.

const (
	evID, evType, evSource, evSubject, evTime, evData, evContentType, evCorrelationID = 1, 2, 3, 4, 5, 6, 7, 8
	evAttempt, evHeaders, evClaims, evMethod, evPath, evParams, evRawQuery            = 9, 10, 11, 12, 13, 14, 15

	reqEvent, reqDeadline, reqTraceparent, reqRequestID                     = 1, 2, 3, 4
	respResult, respFailure                                                 = 1, 2
	resStatus, resHeaders, resBody, resEmits, resNotifications              = 1, 2, 3, 4, 5
	msgKind, msgTarget, msgID, msgType, msgData, msgContentType, msgHeaders = 1, 2, 3, 4, 5, 6, 7
	msgPriority, msgSubject                                                 = 8, 9
	notTopic, notData                                                       = 1, 2
	failKind, failStatus, failMessage                                       = 1, 2, 3
	kindQueue                                                               = 1
)

// Failure kinds (proto Failure.Kind).
const (
	failError      = 0
	failPanic      = 1
	failCanceled   = 2
	failBadRequest = 3
)

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
		case reqEvent:
			return wire.TakeMessage(typ, b, func(v []byte) (err error) {
				r.ev, err = decodeEvent(v)
				return err
			})
		case reqDeadline:
			return wire.TakeVarint(typ, b, &r.deadline)
		case reqTraceparent:
			return wire.TakeString(typ, b, &r.traceparent)
		case reqRequestID:
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
		case evID:
			return wire.TakeString(typ, b, &ev.ID)
		case evType:
			return wire.TakeString(typ, b, &ev.Type)
		case evSource:
			return wire.TakeString(typ, b, &ev.Source)
		case evSubject:
			return wire.TakeString(typ, b, &ev.Subject)
		case evTime:
			return wire.TakeVarint(typ, b, &t)
		case evData:
			return wire.TakeBytes(typ, b, &ev.Data)
		case evContentType:
			return wire.TakeString(typ, b, &ev.ContentType)
		case evCorrelationID:
			return wire.TakeString(typ, b, &ev.CorrelationID)
		case evAttempt:
			return wire.TakeVarint(typ, b, &attempt)
		case evHeaders:
			return wire.TakeMapEntry(typ, b, &ev.Headers)
		case evClaims:
			return wire.TakeBytes(typ, b, &claims)
		case evMethod:
			return wire.TakeString(typ, b, &ev.Method)
		case evPath:
			return wire.TakeString(typ, b, &ev.Path)
		case evParams:
			return wire.TakeMapEntry(typ, b, &ev.Params)
		case evRawQuery:
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
	res := wire.AppendVarint(nil, resStatus, uint64(int64(r.Status)))
	res = wire.AppendMap(res, resHeaders, r.Headers)
	res = wire.AppendBytes(res, resBody, r.Body)
	for _, m := range r.Emitted {
		var mb []byte
		if m.Queue {
			mb = wire.AppendVarint(mb, msgKind, kindQueue)
		}
		mb = wire.AppendString(mb, msgTarget, m.Target)
		mb = wire.AppendString(mb, msgID, m.ID)
		mb = wire.AppendString(mb, msgType, m.Type)
		mb = wire.AppendBytes(mb, msgData, m.Data)
		mb = wire.AppendString(mb, msgContentType, m.ContentType)
		mb = wire.AppendMap(mb, msgHeaders, m.Headers)
		mb = wire.AppendVarint(mb, msgPriority, uint64(int64(m.Priority)))
		mb = wire.AppendString(mb, msgSubject, m.Subject)
		res = wire.AppendMessage(res, resEmits, mb)
	}
	for _, n := range r.Notified {
		nb := wire.AppendString(nil, notTopic, n.Topic)
		nb = wire.AppendBytes(nb, notData, n.Data)
		res = wire.AppendMessage(res, resNotifications, nb)
	}
	return wire.AppendMessage(b, respResult, res)
}

// appendFailure appends a Response carrying a Failure.
func appendFailure(b []byte, kind int, status int, msg string) []byte {
	f := wire.AppendVarint(nil, failKind, uint64(kind))
	f = wire.AppendVarint(f, failStatus, uint64(int64(status)))
	f = wire.AppendString(f, failMessage, msg)
	return wire.AppendMessage(b, respFailure, f)
}
