package fn

import "github.com/edgefn/edgefn/runtime/event"

// Result is a successful invocation's output: the answer to an HTTP caller (Status, Headers,
// Body) and the effects the gateway carries out, added with Emit and Notify. Effects are
// carried out only when the handler succeeds, and before the triggering message is
// acknowledged.
type Result = event.Result

// Message is an event a function emits to a stream or a queue, made by ToStream or ToQueue
// and refined with WithID, WithSubject, WithPriority, AsCloudEvent and, for a queue message,
// After, which delays it; or the cancellation of a delayed message, made by CancelDelayed.
type Message = event.Message

// Notification is one publication to the WebSocket subscribers of a topic (see Result.Notify).
type Notification = event.Notification

// JSON returns a Result whose body is v encoded as JSON.
func JSON(status int, v any) *Result { return event.JSON(status, v) }

// Text returns a Result with a plain-text body.
func Text(status int, s string) *Result { return event.Text(status, s) }

// Bytes returns a Result with the given content type and body.
func Bytes(status int, contentType string, body []byte) *Result {
	return event.Bytes(status, contentType, body)
}

// Status returns a Result with no body.
func Status(status int) *Result { return event.Status(status) }

// ToStream makes a message for the stream, with v encoded as JSON.
func ToStream(stream, eventType string, v any) Message { return event.ToStream(stream, eventType, v) }

// ToQueue makes a message for the queue, with v encoded as JSON.
func ToQueue(queue, eventType string, v any) Message { return event.ToQueue(queue, eventType, v) }

// CancelDelayed makes the cancellation of the delayed message with the ID id (the ID of the
// Message that After returned) to queue, to pass to Result.Emit: when the handler succeeds,
// that message is not delivered. Cancelling a message that was delivered already does nothing.
func CancelDelayed(queue, id string) Message { return event.CancelDelayed(queue, id) }
