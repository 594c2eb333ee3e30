package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/edgefn/edgefn/triggers"
)

// Close codes (docs/websocket.md).
const (
	CloseGoingAway    = 1001
	CloseInvalidData  = 1007 // a text frame that is not UTF-8
	CloseTooBig       = 1009
	CloseRestart      = 1012 // an unrecoverable gap: reconnect and resubscribe
	CloseTryLater     = 1013 // the gateway is at its connection cap
	CloseServerError  = 1011 // a connect function failed
	CloseUnauthorized = 4001
	CloseForbidden    = 4003 // a connect function refused the client
	CloseSlow         = 4008
	CloseBadFrame     = 4400
)

// Error codes of replies.
const (
	codeBadRequest    = "bad_request"
	codeUnknownOp     = "unknown_op"
	codeUnauthorized  = "unauthorized"
	codeForbidden     = "forbidden"
	codeTooMany       = "too_many_subscriptions"
	codeAlreadySub    = "already_subscribed"
	codeNotSubscribed = "not_subscribed"
	codeFunction      = "function_failed"
	codeUnavailable   = "unavailable"
	codeNotFound      = "not_found"
)

// request is one client frame. Fields an op does not use are ignored.
type request struct {
	ID     json.RawMessage `json:"id"`
	Op     string          `json:"op"`
	Token  string          `json:"token"`
	Topic  string          `json:"topic"`
	Method string          `json:"method"`
	Epoch  string          `json:"epoch"`
	Since  *string         `json:"since"`
	Data   json.RawMessage `json:"data"`
}

// replyError is the error of a failed op.
type replyError struct {
	code, message string
	// status is the status a function failed with; 0 when no function failed.
	status int
}

func (e *replyError) Error() string { return e.code + ": " + e.message }

func errReply(code, message string) *replyError { return &replyError{code: code, message: message} }

// decodeRequest parses a text frame. The id, when present, must be a number or a string:
// replies echo it verbatim.
func decodeRequest(frame []byte) (*request, *replyError) {
	var r request
	if err := json.Unmarshal(frame, &r); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, errReply(codeBadRequest, "frame is not JSON: "+err.Error())
		}
		return nil, errReply(codeBadRequest, "bad frame: "+err.Error())
	}
	if len(r.ID) > 0 {
		switch c := r.ID[0]; {
		case c == '"', c == '-', c >= '0' && c <= '9':
		default:
			r.ID = nil
			return &r, errReply(codeBadRequest, "id must be a number or a string")
		}
		if len(r.ID) > 64 {
			r.ID = nil
			return &r, errReply(codeBadRequest, "id is longer than 64 bytes")
		}
	}
	return &r, nil
}

// reply is an answer to a request.
type reply struct {
	ok        bool
	err       *replyError
	pos       *triggers.Position
	recovered *bool
	pubs      []*triggers.Publication
	// data is the JSON of a function's answer: an rpc's body, or the initial state a
	// subscribe function gives; nil for none.
	data []byte
}

// encodeReply is the JSON reply to the request with raw id.
func encodeReply(id json.RawMessage, r reply) []byte {
	b := []byte{'{'}
	if len(id) > 0 {
		b = append(b, `"id":`...)
		b = append(b, id...)
		b = append(b, ',')
	}
	if r.err != nil {
		b = append(b, `"ok":false,"error":{"code":`...)
		b = appendString(b, r.err.code)
		if r.err.status != 0 {
			b = append(b, `,"status":`...)
			b = strconv.AppendInt(b, int64(r.err.status), 10)
		}
		b = append(b, `,"message":`...)
		b = appendString(b, r.err.message)
		return append(b, "}}"...)
	}
	b = append(b, `"ok":true`...)
	if r.pos != nil {
		b = append(b, `,"epoch":`...)
		b = appendString(b, r.pos.Epoch)
		b = append(b, `,"offset":"`...)
		b = strconv.AppendUint(b, r.pos.Offset, 10)
		b = append(b, '"')
	}
	if r.recovered != nil {
		b = append(b, `,"recovered":`...)
		b = strconv.AppendBool(b, *r.recovered)
	}
	if r.pubs != nil {
		b = append(b, `,"publications":[`...)
		for i, p := range r.pubs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"offset":"`...)
			b = strconv.AppendUint(b, p.Offset, 10)
			b = append(b, `","data":`...)
			b = appendData(b, p.Data)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.data != nil {
		b = append(b, `,"data":`...)
		b = append(b, r.data...)
	}
	return append(b, '}')
}

// encodeConnected is the frame that tells a client its connect function accepted it: its
// connection ID and the function's data, if any.
func encodeConnected(client string, data []byte) []byte {
	b := append([]byte(`{"connected":{"client":`), appendString(nil, client)...)
	if data != nil {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	return append(b, "}}"...)
}

// encodePublication is the frame of a live publication, built once for every subscriber.
func encodePublication(p *triggers.Publication) []byte {
	b := make([]byte, 0, len(p.Topic)+len(p.Data)+40)
	b = append(b, `{"topic":`...)
	b = appendString(b, p.Topic)
	b = append(b, `,"offset":"`...)
	b = strconv.AppendUint(b, p.Offset, 10)
	b = append(b, `","data":`...)
	b = appendData(b, p.Data)
	return append(b, '}')
}

// appendData appends JSON data, or null for none. Publications are checked to be JSON
// when published.
func appendData(b, data []byte) []byte {
	if len(bytes.TrimSpace(data)) == 0 {
		return append(b, "null"...)
	}
	return append(b, data...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// parseOffset reads an offset string of a client.
func parseOffset(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
