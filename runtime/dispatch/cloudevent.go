package dispatch

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
)

// ceReserved are the names a message header cannot take in a CloudEvents envelope: the core
// attributes, data, and traceparent, which the gateway's trace context fills.
var ceReserved = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data": true, "traceparent": true,
}

// asCloudEvent turns msg, with every attribute set, into a structured-mode CloudEvent
// (docs/events.md#cloudevents): its data becomes the application/cloudevents+json envelope of
// its attributes and data. The message's own fields stay, so the broker's properties and
// fields carry the attributes too.
func asCloudEvent(msg *triggers.Message) error {
	env := make(map[string]any, 10+len(msg.Headers))
	for k, v := range msg.Headers {
		if validExtensionName(k) && !ceReserved[k] {
			env[k] = v
		}
	}
	env["specversion"] = "1.0"
	env["id"] = msg.ID
	env["source"] = msg.Source
	env["type"] = msg.Type
	env["time"] = msg.Time.UTC().Format(time.RFC3339Nano)
	if msg.Subject != "" {
		env["subject"] = msg.Subject
	}
	if msg.ContentType != "" {
		env["datacontenttype"] = msg.ContentType
	}
	if msg.Traceparent != "" {
		env["traceparent"] = msg.Traceparent
	}
	switch {
	case len(msg.Data) == 0:
	case event.IsJSON(msg.ContentType) && json.Valid(msg.Data):
		env["data"] = json.RawMessage(msg.Data)
	default:
		env["data_base64"] = base64.StdEncoding.EncodeToString(msg.Data)
	}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	msg.Data, msg.ContentType = body, event.CloudEventsJSON
	return nil
}

// validExtensionName reports whether name can be a CloudEvents extension attribute: an
// attribute name of at most 20 characters.
func validExtensionName(name string) bool {
	return len(name) <= 20 && event.IsCloudEventName(name)
}
