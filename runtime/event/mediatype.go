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
