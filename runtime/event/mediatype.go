package event

import (
	"mime"
	"strings"
)

// CloudEventsJSON is the media type of a CloudEvent in structured mode, in the JSON event
// format: what an HTTP trigger reads as one (docs/http.md#cloudevents), and the content type
// of a message emitted with AsCloudEvent.
const CloudEventsJSON = "application/cloudevents+json"

// IsJSON reports whether contentType is JSON: application/json, text/json or a +json type,
// with any parameters.
func IsJSON(contentType string) bool {
	if contentType == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// IsCloudEventName reports whether name is a CloudEvents attribute name: lower-case ASCII
// letters and digits, at least one.
func IsCloudEventName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
