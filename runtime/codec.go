package runtime

import (
	"encoding/json"
	"fmt"

	"github.com/edgefn/edgefn/runtime/fn"
	pb "github.com/edgefn/edgefn/runtime/proto"
)

// encodeEvent is the host half of the event's trip to the plugin; the SDK decodes it.
func encodeEvent(ev *fn.Event) (*pb.Event, error) {
	out := &pb.Event{
		Id:            ev.ID,
		Type:          ev.Type,
		Source:        ev.Source,
		Subject:       ev.Subject,
		Data:          ev.Data,
		ContentType:   ev.ContentType,
		CorrelationId: ev.CorrelationID,
		Attempt:       int32(ev.Attempt),
		Headers:       ev.Headers,
		Method:        ev.Method,
		Path:          ev.Path,
		Params:        ev.Params,
		RawQuery:      ev.Query.Encode(),
	}
	if !ev.Time.IsZero() {
		out.TimeUnixNano = ev.Time.UnixNano()
	}
	if len(ev.Claims) > 0 {
		c, err := json.Marshal(ev.Claims)
		if err != nil {
			return nil, fmt.Errorf("encode claims: %w", err)
		}
		out.ClaimsJson = c
	}
	return out, nil
}

// decodeResponse turns the plugin's answer into a Result or an error.
func decodeResponse(resp *pb.Response) (*fn.Result, error) {
	if f := resp.GetFailure(); f != nil {
		switch f.GetKind() {
		case pb.Failure_CANCELED:
			return nil, ErrTimeout
		case pb.Failure_PANIC:
			return nil, &FunctionError{Detail: f.GetMessage(), Panic: true}
		case pb.Failure_BAD_REQUEST:
			return nil, &FunctionError{Detail: "plugin could not decode the request: " + f.GetMessage()}
		}
		if f.GetStatus() != 0 {
			return nil, &fn.Error{Status: int(f.GetStatus()), Message: f.GetMessage()}
		}
		return nil, &FunctionError{Detail: f.GetMessage()}
	}
	r := resp.GetResult()
	if r == nil {
		return nil, &FunctionError{Detail: "plugin sent an empty response"}
	}
	res := &fn.Result{Status: int(r.GetStatus()), Headers: r.GetHeaders(), Body: r.GetBody()}
	for _, m := range r.GetEmits() {
		res.Emitted = append(res.Emitted, fn.Message{
			Queue: m.GetKind() == pb.Message_QUEUE, Target: m.GetTarget(), ID: m.GetId(), Type: m.GetType(),
			Subject: m.GetSubject(), Data: m.GetData(), ContentType: m.GetContentType(), Headers: m.GetHeaders(),
			Priority: int(m.GetPriority()),
		})
	}
	for _, n := range r.GetNotifications() {
		res.Notified = append(res.Notified, fn.Notification{Topic: n.GetTopic(), Data: n.GetData()})
	}
	return res, nil
}
