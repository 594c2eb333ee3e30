package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/edgefn/edgefn/runtime/event"
)

// The codec of the data path's payloads: the protobuf encoding of runtime/proto's messages,
// written and read with protowire directly, because reflection over generated types costs
// more than a small handler. The host encodes requests and decodes responses; the plugin
// decodes requests and encodes responses; both use the functions here.

// Request is one invocation as it travels from the host to the plugin.
type Request struct {
	// Event is the invocation's input.
	Event event.Event
	// Deadline is when the host gives up on the invocation, in unix nanoseconds; 0 for none.
	Deadline int64
	// Traceparent is the W3C traceparent of the host's invocation span; "" when not traced.
	Traceparent string
	// RequestID identifies the request the invocation serves, for the function's logs.
	RequestID string
}

// AppendRequest appends the encoding of r (a proto Request) to b. It fails only when the
// event's claims cannot be encoded as JSON, and then returns b unchanged.
func AppendRequest(b []byte, r *Request) ([]byte, error) {
	start := len(b)
	b, mark := beginMessage(b, requestEvent)
	b, err := appendEvent(b, &r.Event)
	if err != nil {
		return b[:start], err
	}
	b = endMessage(b, mark)
	b = appendVarint(b, requestDeadline, uint64(r.Deadline))
	b = appendString(b, requestTraceparent, r.Traceparent)
	b = appendString(b, requestID, r.RequestID)
	return b, nil
}

// AppendBatchRequest appends r to b, a proto BatchRequest being built: a BatchRequest is its
// requests one after another. On an error (see AppendRequest) b is unchanged.
func AppendBatchRequest(b []byte, r *Request) ([]byte, error) {
	start := len(b)
	b, mark := beginMessage(b, batchRequests)
	b, err := AppendRequest(b, r)
	if err != nil {
		return b[:start], err
	}
	return endMessage(b, mark), nil
}

func appendEvent(b []byte, ev *event.Event) ([]byte, error) {
	b = appendString(b, eventID, ev.ID)
	b = appendString(b, eventType, ev.Type)
	b = appendString(b, eventSource, ev.Source)
	b = appendString(b, eventSubject, ev.Subject)
	if !ev.Time.IsZero() {
		b = appendVarint(b, eventTime, uint64(ev.Time.UnixNano()))
	}
	b = appendBytes(b, eventData, ev.Data)
	b = appendString(b, eventContentType, ev.ContentType)
	b = appendString(b, eventCorrelationID, ev.CorrelationID)
	b = appendVarint(b, eventAttempt, uint64(int64(ev.Attempt)))
	b = appendMap(b, eventHeaders, ev.Headers)
	if len(ev.Claims) > 0 {
		c, err := json.Marshal(ev.Claims)
		if err != nil {
			return b, fmt.Errorf("encode claims: %w", err)
		}
		b = appendBytes(b, eventClaims, c)
	}
	b = appendString(b, eventMethod, ev.Method)
	b = appendString(b, eventPath, ev.Path)
	b = appendMap(b, eventParams, ev.Params)
	if len(ev.Query) > 0 {
		b = appendString(b, eventRawQuery, ev.Query.Encode())
	}
	return b, nil
}

// sharedMax is the largest request decoded into one copy of its bytes (see DecodeRequest).
const sharedMax = 4 << 10

// DecodeRequest reads a proto Request. Nothing it returns points into b, which the frame
// reader reuses. A request of up to sharedMax bytes is copied once and its strings and data
// point into that copy; a larger one has each field copied, so that a string a handler keeps
// (an ID, a header) does not keep a large body alive. The event's Headers, Params and Query
// are never nil, so a handler may index them.
func DecodeRequest(b []byte) (*Request, error) {
	takes := copying
	if len(b) <= sharedMax {
		b = bytes.Clone(b)
		takes = sharing
	}
	r := &Request{}
	hasEvent := false
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case requestEvent:
			return takeMessage(typ, b, func(v []byte) (err error) {
				hasEvent = true
				return decodeEvent(&r.Event, v, takes)
			})
		case requestDeadline:
			return takeVarint(typ, b, &r.Deadline)
		case requestTraceparent:
			return takes.str(typ, b, &r.Traceparent)
		case requestID:
			return takes.str(typ, b, &r.RequestID)
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	if !hasEvent {
		fillEvent(&r.Event, "")
	}
	return r, nil
}

// DecodeBatchRequest reads a proto BatchRequest. reqs[k] is its k-th request, or nil when that
// one could not be decoded, and then errs[k] says why (errs is nil when every one decoded).
// err is set when the batch itself is malformed: there is then no telling how many requests
// it held.
func DecodeBatchRequest(b []byte) (reqs []*Request, errs []error, err error) {
	var raw [][]byte
	err = fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		if num != batchRequests {
			return 0
		}
		return takeMessage(typ, b, func(v []byte) error {
			raw = append(raw, v)
			return nil
		})
	})
	if err != nil {
		return nil, nil, err
	}
	reqs = make([]*Request, len(raw))
	for k, v := range raw {
		req, err := DecodeRequest(v)
		if err != nil {
			if errs == nil {
				errs = make([]error, len(raw))
			}
			errs[k] = err
			continue
		}
		reqs[k] = req
	}
	return reqs, errs, nil
}

// takers read a request's strings, bytes and map entries: as copies, or pointing into a
// payload the request owns.
type takers struct {
	str   func(protowire.Type, []byte, *string) int
	bytes func(protowire.Type, []byte, *[]byte) int
	entry func(protowire.Type, []byte, *map[string]string) int
}

var (
	copying = takers{takeString, takeBytes, takeMapEntry}
	sharing = takers{takeStringShared, takeBytesShared, takeMapEntryShared}
)

// decodeEvent decodes an Event into ev, a zero one.
func decodeEvent(ev *event.Event, b []byte, takes takers) error {
	var t, attempt int64
	var claims []byte
	var rawQuery string
	err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) int {
		switch num {
		case eventID:
			return takes.str(typ, b, &ev.ID)
		case eventType:
			return takes.str(typ, b, &ev.Type)
		case eventSource:
			return takes.str(typ, b, &ev.Source)
		case eventSubject:
			return takes.str(typ, b, &ev.Subject)
		case eventTime:
			return takeVarint(typ, b, &t)
		case eventData:
			return takes.bytes(typ, b, &ev.Data)
		case eventContentType:
			return takes.str(typ, b, &ev.ContentType)
		case eventCorrelationID:
			return takes.str(typ, b, &ev.CorrelationID)
		case eventAttempt:
			return takeVarint(typ, b, &attempt)
		case eventHeaders:
			return takes.entry(typ, b, &ev.Headers)
		case eventClaims:
			return takeBytesShared(typ, b, &claims) // only read here
		case eventMethod:
			return takes.str(typ, b, &ev.Method)
		case eventPath:
			return takes.str(typ, b, &ev.Path)
		case eventParams:
			return takes.entry(typ, b, &ev.Params)
		case eventRawQuery:
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
