package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// CloudEvents 1.0 over the HTTP protocol binding (docs/http.md#cloudevents): a request is a
// CloudEvent in binary mode when it has a ce-specversion header, in structured mode when its
// media type is application/cloudevents+json. Its attributes replace those the gateway gives
// an HTTP call; Method, Path, Params, Query and Claims stay.

// ceSpecVersion is the only CloudEvents version the gateway reads.
const ceSpecVersion = "1.0"

// isCloudEvent reports whether the request ev was made from carries a CloudEvent: one map
// lookup and a prefix check, so that other requests pay next to nothing.
func isCloudEvent(ev *event.Event) bool {
	if _, ok := ev.Headers["Ce-Specversion"]; ok {
		return true
	}
	return isStructured(ev.ContentType)
}

// isStructured reports whether the media type of contentType is application/cloudevents+json,
// in any case, with or without parameters.
func isStructured(contentType string) bool {
	n := len(event.CloudEventsJSON)
	if len(contentType) < n || !strings.EqualFold(contentType[:n], event.CloudEventsJSON) {
		return false
	}
	return len(contentType) == n || contentType[n] == ';' || contentType[n] == ' ' || contentType[n] == '\t'
}

// readCloudEvent sets ev's attributes, data and content type from the CloudEvent of the
// request ev was made from, which isCloudEvent accepted: structured mode when the body says
// so, binary mode otherwise. The error says what is wrong with the event, for the caller.
func readCloudEvent(ev *event.Event) error {
	if isStructured(ev.ContentType) {
		return readStructured(ev)
	}
	return readBinary(ev)
}

// readBinary takes the attributes from the ce-* headers (the data and its content type are
// the body's). Header values are percent-decoded, as the HTTP binding says senders encode
// them; a value that is not valid percent-encoding is taken as it is.
func readBinary(ev *event.Event) error {
	h := ev.Headers
	for k, v := range h {
		if len(k) > 3 && k[:3] == "Ce-" && strings.IndexByte(v, '%') >= 0 {
			if d, err := url.PathUnescape(v); err == nil {
				h[k] = d
			}
		}
	}
	if v := h["Ce-Specversion"]; v != ceSpecVersion {
		return fmt.Errorf("ce-specversion %q is not supported; only %s is", v, ceSpecVersion)
	}
	var missing []string
	for _, k := range [...]string{"Ce-Id", "Ce-Source", "Ce-Type"} {
		if h[k] == "" {
			missing = append(missing, strings.ToLower(k))
		}
	}
	if missing != nil {
		return fmt.Errorf("missing required attribute header %s", strings.Join(missing, ", "))
	}
	if v, ok := h["Ce-Time"]; ok {
		t, err := parseCETime(v)
		if err != nil {
			return fmt.Errorf("ce-time: %w", err)
		}
		ev.Time = t
	}
	ev.ID, ev.Source, ev.Type, ev.Subject = h["Ce-Id"], h["Ce-Source"], h["Ce-Type"], h["Ce-Subject"]
	return nil
}

// ceAttributes are the context attributes structured mode reads into the event; the members
// that are neither these nor data, data_base64 or dataschema are extensions.
var ceAttributes = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true,
}

// readStructured reads the body as a CloudEvent in the JSON event format. Extensions (and
// dataschema) join the headers as their binary-mode header would, so that a function sees them
// in the same place in both modes.
func readStructured(ev *event.Event) error {
	if ev.Headers == nil {
		ev.Headers = map[string]string{}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(ev.Data, &members); err != nil || members == nil {
		return errors.New("the body of an application/cloudevents+json request must be a JSON object")
	}
	attr := make(map[string]string, len(ceAttributes))
	for name, raw := range members {
		if isNull(raw) || name == "data" || name == "data_base64" {
			continue
		}
		if !event.IsCloudEventName(name) {
			return fmt.Errorf("attribute name %q is not lower-case letters and digits", name)
		}
		if ceAttributes[name] || name == "dataschema" {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("attribute %s must be a string", name)
			}
			attr[name] = s
			if name == "dataschema" {
				ev.Headers["Ce-Dataschema"] = s
			}
			continue
		}
		v, err := extensionValue(raw)
		if err != nil {
			return fmt.Errorf("extension %s: %w", name, err)
		}
		ev.Headers[ceHeaderName(name)] = v
	}
	var missing []string
	for _, k := range [...]string{"specversion", "id", "source", "type"} {
		if attr[k] == "" {
			missing = append(missing, k)
		}
	}
	if missing != nil {
		return fmt.Errorf("missing required attribute %s", strings.Join(missing, ", "))
	}
	if v := attr["specversion"]; v != ceSpecVersion {
		return fmt.Errorf("specversion %q is not supported; only %s is", v, ceSpecVersion)
	}
	if v, ok := attr["time"]; ok {
		t, err := parseCETime(v)
		if err != nil {
			return fmt.Errorf("time: %w", err)
		}
		ev.Time = t
	}
	data, contentType, err := structuredData(members["data"], members["data_base64"], attr)
	if err != nil {
		return err
	}
	ev.ID, ev.Source, ev.Type, ev.Subject = attr["id"], attr["source"], attr["type"], attr["subject"]
	ev.Data, ev.ContentType = data, contentType
	return nil
}

// structuredData returns the event's data and its content type from the data or data_base64
// member. JSON data (datacontenttype JSON, or absent, which means application/json) is the
// JSON value as sent; a JSON string with another content type is the string's bytes.
func structuredData(data, b64 json.RawMessage, attr map[string]string) ([]byte, string, error) {
	contentType, declared := attr["datacontenttype"]
	hasData, hasB64 := data != nil && !isNull(data), b64 != nil && !isNull(b64)
	switch {
	case hasData && hasB64:
		return nil, "", errors.New("an event has data or data_base64, not both")
	case hasB64:
		var s string
		if err := json.Unmarshal(b64, &s); err != nil {
			return nil, "", errors.New("data_base64 must be a string")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, "", errors.New("data_base64 is not base64")
		}
		return b, contentType, nil
	case !hasData:
		return nil, contentType, nil
	}
	if !declared {
		contentType = "application/json"
	}
	if !event.IsJSON(contentType) && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, "", errors.New("data is not a valid JSON string")
		}
		return []byte(s), contentType, nil
	}
	return data, contentType, nil // json.Unmarshal copied it out of the body
}

// extensionValue is an extension's value as a string: a JSON string's text, or a number's or a
// boolean's JSON form.
func extensionValue(raw json.RawMessage) (string, error) {
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case '{', '[':
		return "", errors.New("must be a string, a number or a boolean")
	}
	return string(raw), nil // a number, true or false: json.Unmarshal checked it
}

// parseCETime reads an RFC 3339 timestamp, in UTC.
func parseCETime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 timestamp", v)
	}
	return t.UTC(), nil
}

// ceHeaderName is the binary-mode header of the extension name, in canonical form: Ce-Tenant.
func ceHeaderName(name string) string {
	return textproto.CanonicalMIMEHeaderKey("ce-" + name)
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 4 && string(raw) == "null"
}
