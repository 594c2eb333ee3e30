package runtime

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

// Error is a failure of the runtime (not of the function's own logic), with the HTTP status
// and code the gateway answers with. Its Message is safe to show to clients.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is match runtime errors by code, so a wrapped copy with another message still
// matches its sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel runtime errors.
var (
	ErrNotFound    = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "function not found"}
	ErrNotReady    = &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "function has no ready instance", RetryAfter: time.Second}
	ErrCrashed     = &Error{Status: http.StatusBadGateway, Code: "function_crashed", Message: "function process exited during the call"}
	ErrTimeout     = &Error{Status: http.StatusGatewayTimeout, Code: "function_timeout", Message: "function did not answer within its timeout"}
	ErrOverloaded  = &Error{Status: http.StatusServiceUnavailable, Code: "overloaded", Message: "function is at its concurrency limit", RetryAfter: time.Second}
	ErrCircuitOpen = &Error{Status: http.StatusServiceUnavailable, Code: "circuit_open", Message: "function is failing; calls are paused", RetryAfter: time.Second}
	ErrStopping    = &Error{Status: http.StatusServiceUnavailable, Code: "stopping", Message: "function is stopping", RetryAfter: time.Second}
	// ErrStartFailed is a call that waited for a plugin process whose start failed, or that
	// came while the start is backing off; startFailed gives it the reason.
	ErrStartFailed = &Error{Status: http.StatusServiceUnavailable, Code: "start_failed", Message: "function could not start", RetryAfter: time.Second}
	// ErrAtCapacity is a call to a function scaled to zero on a node that runs as many plugin
	// processes as --max-instances allows, none of which can stop for it.
	ErrAtCapacity = &Error{Status: http.StatusServiceUnavailable, Code: "at_capacity",
		Message: "the node runs as many function processes as it may (--max-instances)", RetryAfter: time.Second}
)

// startFailed is ErrStartFailed with the reason of the last failed start.
func startFailed(reason string) *Error {
	e := *ErrStartFailed
	if reason != "" {
		e.Message += ": " + reason
	}
	return &e
}

// Failures of a function's effects (docs/sdk.md#effects).
var (
	// ErrEffects is a call whose function succeeded but whose effects could not all be
	// carried out: the caller may retry (emitted messages keep their IDs for de-duplication).
	ErrEffects = &Error{Status: http.StatusBadGateway, Code: "effects_failed",
		Message: "the function succeeded but its events could not all be published", RetryAfter: time.Second}
	// ErrInvalidEffect is a call whose function succeeded with an effect the gateway refuses
	// for what it is (a notification to requests.*, say): a bug of the function, for which
	// nothing of the result was carried out, and which a retry would meet again.
	ErrInvalidEffect = &Error{Status: http.StatusInternalServerError, Code: "invalid_effect",
		Message: "the function asked for an effect the gateway refuses; nothing of its result was published"}
)

// FunctionError is a failure inside the function: an error it returned without a status, or a
// panic. Callers see a generic 500; Detail goes to the logs only.
type FunctionError struct {
	Detail string
	Panic  bool
}

func (e *FunctionError) Error() string { return "function failed: " + e.Detail }

// HTTPStatus maps an invocation error to the status an HTTP caller gets, with the code and the
// message it may see.
func HTTPStatus(err error) (status int, code, message string) {
	var re *Error
	if errors.As(err, &re) {
		return re.Status, re.Code, re.Message
	}
	var fe *event.Error
	if errors.As(err, &fe) {
		status := fe.Status
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		return status, codeFor(status), fe.Message
	}
	return http.StatusInternalServerError, "function_error", "the function failed"
}

func codeFor(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 409:
		return "conflict"
	case 422:
		return "unprocessable"
	case 429:
		return "too_many_requests"
	}
	if status >= 500 {
		return "function_error"
	}
	return "error"
}

// shed reports errors that turned a call away before it reached the function.
func shed(err error) bool {
	return errors.Is(err, ErrOverloaded) || errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrStopping)
}

// countsAsFailure says whether err should count against the circuit breaker: failures of the
// function or its process, not a caller's bad input, a caller giving up, or the gateway
// shedding load.
func countsAsFailure(err error) bool {
	if err == nil {
		return false
	}
	if shed(err) || errors.Is(err, context.Canceled) {
		return false
	}
	var fe *event.Error
	if errors.As(err, &fe) {
		return fe.Status >= 500
	}
	return true
}
