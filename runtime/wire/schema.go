package wire

// Field numbers and enum values of function.proto's data path messages, for the codecs on
// both sides (runtime and runtime/fn), which read and write the messages with protowire.
// They must follow runtime/proto/function.proto; the codecs' tests check them against the
// generated types.

// Event fields.
const (
	EventID, EventType, EventSource, EventSubject, EventTime, EventData = 1, 2, 3, 4, 5, 6
	EventContentType, EventCorrelationID, EventAttempt, EventHeaders    = 7, 8, 9, 10
	EventClaims, EventMethod, EventPath, EventParams, EventRawQuery     = 11, 12, 13, 14, 15
)

// Request, Response and Result fields.
const (
	RequestEvent, RequestDeadline, RequestTraceparent, RequestID              = 1, 2, 3, 4
	ResponseResult, ResponseFailure, ResponseStarted, ResponseFinished        = 1, 2, 3, 4
	ResultStatus, ResultHeaders, ResultBody, ResultEmits, ResultNotifications = 1, 2, 3, 4, 5
	NotificationTopic, NotificationData                                       = 1, 2
	FailureKind, FailureStatus, FailureMessage                                = 1, 2, 3
	BatchRequests, BatchResponses                                             = 1, 1
)

// Message fields, and Message.Kind's QUEUE (STREAM is 0).
const (
	MessageKind, MessageTarget, MessageID, MessageType, MessageData = 1, 2, 3, 4, 5
	MessageContentType, MessageHeaders, MessagePriority             = 6, 7, 8
	MessageSubject                                                  = 9
	MessageKindQueue                                                = 1
)

// Failure.Kind values.
const (
	FailureError      = 0
	FailurePanic      = 1
	FailureCanceled   = 2
	FailureBadRequest = 3
)
