package gateway

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/edgefn/edgefn/runtime"
)

// errorBody is the JSON of every error the gateway answers with.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string   `json:"code"`
	Message   string   `json:"message"`
	RequestID string   `json:"requestId"`
	Details   []string `json:"details,omitempty"`
}

// sendError answers with a JSON error.
func sendError(c *fiber.Ctx, status int, code, message string, details ...string) error {
	return c.Status(status).JSON(errorBody{Error: errorDetail{
		Code: code, Message: message, RequestID: requestID(c), Details: details,
	}})
}

// sendInvokeError answers an invocation's failure: the runtime's status, code and safe message,
// with Retry-After when it says when to come back. Internal detail never reaches the client.
func sendInvokeError(c *fiber.Ctx, err error) error {
	var re *runtime.Error
	if errors.As(err, &re) && re.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((re.RetryAfter+time.Second-1)/time.Second)))
	}
	status, code, msg := runtime.HTTPStatus(err)
	return sendError(c, status, code, msg)
}

// sendFiberError answers with a *fiber.Error's status and message.
func sendFiberError(c *fiber.Ctx, e *fiber.Error) error {
	return sendError(c, e.Code, codeForStatus(e.Code), e.Message)
}

// errorHandler turns Fiber's own errors (bad requests, oversized headers, timeouts) into JSON.
func errorHandler(c *fiber.Ctx, err error) error {
	status, code, msg := fiber.StatusInternalServerError, "internal", "internal error"
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status, msg = fe.Code, fe.Message
		code = codeForStatus(status)
	}
	return sendError(c, status, code, msg)
}

// transportError answers what fasthttp could not read as a request: a garbage request line,
// a bad Content-Length, headers over the read buffer, a timeout (it is the fasthttp server's
// ErrorHandler). fasthttp's messages quote the raw request, which must never come back in a
// body (docs/http.md): its headers could carry another user's cookie or token, left there by
// a proxy, and its bytes markup that a browser might run. The answer names the kind of
// failure only.
func (s *Server) transportError(fctx *fasthttp.RequestCtx, err error) {
	c := s.app.AcquireCtx(fctx)
	defer s.app.ReleaseCtx(c)
	if herr := errorHandler(c, transportFailure(err)); herr != nil {
		fctx.Error("", fiber.StatusInternalServerError)
	}
}

// transportFailure is the *fiber.Error that answers a fasthttp read error, with a fixed
// message.
func transportFailure(err error) *fiber.Error {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		return fiber.ErrRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fiber.ErrRequestEntityTooLarge
	case errors.As(err, &ne) && ne.Timeout(), strings.Contains(err.Error(), "timeout"):
		return fiber.ErrRequestTimeout
	}
	return fiber.NewError(fiber.StatusBadRequest, "malformed HTTP request")
}

func codeForStatus(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "bad_request"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusRequestTimeout:
		return "request_timeout"
	case fiber.StatusRequestEntityTooLarge:
		return "too_large"
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return "headers_too_large"
	case fiber.StatusTooManyRequests:
		return "rate_limited"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}
