package runtime

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

func TestHTTPStatus(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
	}{
		// Runtime errors answer with their own status, code and message.
		{"not found", ErrNotFound, 404, "not_found", "function not found"},
		{"not ready", ErrNotReady, 503, "not_ready", "function has no ready instance"},
		{"crashed", ErrCrashed, 502, "function_crashed", "function process exited during the call"},
		{"timeout", ErrTimeout, 504, "function_timeout", "function did not answer within its timeout"},
		{"overloaded", ErrOverloaded, 503, "overloaded", "function is at its concurrency limit"},
		{"circuit open", ErrCircuitOpen, 503, "circuit_open", "function is failing; calls are paused"},
		{"stopping", ErrStopping, 503, "stopping", "function is stopping"},
		{"custom runtime error", &Error{Status: 413, Code: "too_large", Message: "event too large"}, 413, "too_large", "event too large"},
		{"wrapped runtime error keeps the safe message", fmt.Errorf("instance 3 at /run/x.sock: %w", ErrCrashed), 502, "function_crashed", "function process exited during the call"},

		// Errors the function chose: its status and message, a code derived from the status.
		{"fn 400", event.Errorf(400, "name is required"), 400, "bad_request", "name is required"},
		{"fn 401", event.Errorf(401, "who are you"), 401, "unauthorized", "who are you"},
		{"fn 403", event.Errorf(403, "no"), 403, "forbidden", "no"},
		{"fn 404", event.Errorf(404, "no order 7"), 404, "not_found", "no order 7"},
		{"fn 409", event.Errorf(409, "exists"), 409, "conflict", "exists"},
		{"fn 422", event.Errorf(422, "bad total"), 422, "unprocessable", "bad total"},
		{"fn 429", event.Errorf(429, "slow down"), 429, "too_many_requests", "slow down"},
		{"fn other 4xx", event.Errorf(418, "teapot"), 418, "error", "teapot"},
		{"fn 500", event.Errorf(500, "db down"), 500, "function_error", "db down"},
		{"fn 503", event.Errorf(503, "later"), 503, "function_error", "later"},
		{"fn 599", event.Errorf(599, "edge"), 599, "function_error", "edge"},
		{"wrapped fn error", fmt.Errorf("handler: %w", event.Errorf(409, "exists")), 409, "conflict", "exists"},

		// A status outside 400..599 cannot be an error answer: 500.
		{"fn status 0", event.Errorf(0, "no status"), 500, "function_error", "no status"},
		{"fn status 200", event.Errorf(200, "ok?"), 500, "function_error", "ok?"},
		{"fn status 399", event.Errorf(399, "redirect?"), 500, "function_error", "redirect?"},
		{"fn status 600", event.Errorf(600, "huge"), 500, "function_error", "huge"},
		{"fn status negative", event.Errorf(-1, "neg"), 500, "function_error", "neg"},

		// Anything else is a generic 500: its text may hold internals and is not shown.
		{"function error", &FunctionError{Detail: "open /etc/secret: permission denied"}, 500, "function_error", "the function failed"},
		{"function panic", &FunctionError{Detail: "runtime error: index out of range", Panic: true}, 500, "function_error", "the function failed"},
		{"plain error", errors.New("dial tcp 10.0.0.7:5432: password authentication failed"), 500, "function_error", "the function failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, code, message := HTTPStatus(tc.err)
			if status != tc.status || code != tc.code || message != tc.message {
				t.Errorf("HTTPStatus = %d, %q, %q; want %d, %q, %q", status, code, message, tc.status, tc.code, tc.message)
			}
		})
	}
}

func TestHTTPStatusHidesDetail(t *testing.T) {
	for _, err := range []error{
		&FunctionError{Detail: "SECRET-detail"},
		errors.New("SECRET-detail"),
		fmt.Errorf("wrap: %w", &FunctionError{Detail: "SECRET-detail"}),
	} {
		_, code, message := HTTPStatus(err)
		if strings.Contains(message, "SECRET") || strings.Contains(code, "SECRET") {
			t.Errorf("HTTPStatus(%v) shows the detail: %q, %q", err, code, message)
		}
	}
	// The detail is kept for the logs.
	if got := (&FunctionError{Detail: "SECRET-detail"}).Error(); !strings.Contains(got, "SECRET-detail") {
		t.Errorf("FunctionError.Error() = %q, want the detail for the logs", got)
	}
}

func TestErrorIsMatchesByCode(t *testing.T) {
	copied := &Error{Status: 503, Code: ErrOverloaded.Code, Message: "fn orders is at 10 in flight", RetryAfter: 3 * time.Second}
	if !errors.Is(copied, ErrOverloaded) {
		t.Error("a copy with another message does not match its sentinel")
	}
	if !errors.Is(fmt.Errorf("limit: %w", copied), ErrOverloaded) {
		t.Error("a wrapped copy does not match its sentinel")
	}
	for _, other := range []error{ErrCircuitOpen, ErrStopping, ErrNotReady, ErrCrashed} {
		if errors.Is(copied, other) {
			t.Errorf("the overloaded copy matches %v", other)
		}
	}
	if errors.Is(copied, errors.New(ErrOverloaded.Message)) {
		t.Error("a runtime error matches a plain error with the same text")
	}
	// The copy, not the sentinel, carries its own Retry-After and message.
	var re *Error
	if !errors.As(fmt.Errorf("w: %w", copied), &re) || re.RetryAfter != 3*time.Second || re.Message != copied.Message {
		t.Errorf("errors.As = %+v, want the copy", re)
	}
	if got := copied.Error(); got != copied.Message {
		t.Errorf("Error() = %q, want the message", got)
	}
}

func TestCountsAsFailure(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{event.Errorf(400, "x"), false},
		{event.Errorf(499, "x"), false},
		{event.Errorf(500, "x"), true},
		{event.Errorf(503, "x"), true},
		{&FunctionError{Detail: "x"}, true},
		{ErrCrashed, true},
		{ErrTimeout, true},
		{fmt.Errorf("w: %w", ErrCrashed), true},
		{errors.New("anything else"), true},
		{ErrOverloaded, false},
		{ErrCircuitOpen, false},
		{ErrStopping, false},
		{fmt.Errorf("w: %w", ErrOverloaded), false},
	}
	for _, tc := range cases {
		if got := countsAsFailure(tc.err); got != tc.want {
			t.Errorf("countsAsFailure(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
