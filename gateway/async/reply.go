package async

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/edgefn/edgefn/runtime/event"
)

// resultReply is what a synchronous caller would have got from res.
func resultReply(res *event.Result) (int, map[string]string, []byte) {
	if res == nil {
		return 204, nil, nil
	}
	status := res.Status
	if status == 0 {
		status = 200
	}
	return status, res.Headers, res.Body
}

// errorBody is the gateway's JSON error (docs/http.md) for a failed async request.
func errorBody(code, message, requestID string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message, "requestId": requestID}})
	return b
}

// replyPublication is the data published on requests.{id}: the reply as JSON, with the
// body embedded as JSON when it is JSON, as a string when it is text, else in base64.
func replyPublication(rec *Record) []byte {
	out := map[string]any{"id": rec.ID, "status": "done", "statusCode": rec.Status}
	if len(rec.Headers) > 0 {
		out["headers"] = rec.Headers
	}
	ct := ""
	for k, v := range rec.Headers {
		if strings.EqualFold(k, "Content-Type") {
			ct = v
		}
	}
	switch body := bytes.TrimSpace(rec.Body); {
	case len(body) == 0:
	case strings.Contains(ct, "json") && json.Valid(body):
		out["body"] = json.RawMessage(body)
	case utf8.Valid(rec.Body):
		out["body"] = string(rec.Body)
	default:
		out["body"] = base64.StdEncoding.EncodeToString(rec.Body)
		out["bodyEncoding"] = "base64"
	}
	b, _ := json.Marshal(out)
	return b
}
