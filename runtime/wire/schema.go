package wire

// Field numbers and enum values of function.proto's data path messages, the one place the
// codec (request.go, response.go) takes them from. They follow runtime/proto/function.proto;
// codec_test.go checks every field against the generated types.

// Event fields.
const (
	eventID, eventType, eventSource, eventSubject, eventTime, eventData = 1, 2, 3, 4, 5, 6
	eventContentType, eventCorrelationID, eventAttempt, eventHeaders    = 7, 8, 9, 10
	eventClaims, eventMethod, eventPath, eventParams, eventRawQuery     = 11, 12, 13, 14, 15
)

// Request, Response, Result, Notification, Failure and batch fields.
const (
	requestEvent, requestDeadline, requestTraceparent, requestID              = 1, 2, 3, 4
	responseResult, responseFailure, responseStarted, responseFinished        = 1, 2, 3, 4
	resultStatus, resultHeaders, resultBody, resultEmits, resultNotifications = 1, 2, 3, 4, 5
	notificationTopic, notificationData                                       = 1, 2
	failureKind, failureStatus, failureMessage                                = 1, 2, 3
	batchRequests, batchResponses                                             = 1, 1
)

// Message fields, and Message.Kind's QUEUE (STREAM is 0).
const (
	messageKind, messageTarget, messageID, messageType, messageData = 1, 2, 3, 4, 5
	messageContentType, messageHeaders, messagePriority             = 6, 7, 8
	messageSubject, messageCloudEvent, messageDelay, messageCancel  = 9, 10, 11, 12
	messageKindQueue                                                = 1
)

// FailureKind says why an invocation failed (Failure.Kind in function.proto).
type FailureKind int

// Failure kinds.
const (
	// FailureError: the handler returned an error; Failure.Status is its HTTP status, if any.
	FailureError FailureKind = 0
	// FailurePanic: the handler panicked.
	FailurePanic FailureKind = 1
	// FailureCanceled: the handler gave up because its context ended (deadline or cancel).
	FailureCanceled FailureKind = 2
	// FailureBadRequest: the plugin could not decode the request.
	FailureBadRequest FailureKind = 3
)
