package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/gateway/auth"
	"github.com/edgefn/edgefn/gateway/router"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// route is what an HTTP trigger's route points at.
type route struct {
	fn      *runtime.Function
	trigger *manifest.HTTPTrigger
}

// SetFunctions rebuilds the route table from the HTTP triggers of fns and swaps it in. The
// runtime calls it after every change; requests in flight keep the table they matched with.
func (s *Server) SetFunctions(fns []*runtime.Function) {
	var routes []router.Route[*route]
	for _, f := range fns {
		m := f.Manifest()
		if m == nil {
			continue
		}
		for _, t := range m.Triggers {
			if t.HTTP != nil {
				routes = append(routes, router.Route[*route]{Method: t.HTTP.Method, Pattern: t.HTTP.Path,
					Target: &route{fn: f, trigger: t.HTTP}})
			}
		}
	}
	tbl, err := router.New(routes)
	if err != nil {
		// The host refuses conflicting deploys, so this is a bug; keep serving the old table.
		s.cfg.Logger.Error("route table rejected", "error", err)
		return
	}
	s.routes.Store(tbl)
}

// invoke is the catch-all: it matches the route, checks auth, and runs the function.
func (s *Server) invoke(c *fiber.Ctx) error {
	var params router.Params
	// URI().Path() is the decoded, normalized path (no "..", no duplicate slashes).
	path := string(c.Request().URI().Path())
	rt, ok, allow := s.routes.Load().Match(c.Method(), path, &params)
	if !ok {
		if allow != "" {
			c.Set(fiber.HeaderAllow, allow)
			return sendError(c, fiber.StatusMethodNotAllowed, "method_not_allowed", "method "+c.Method()+" not allowed on "+path)
		}
		if s.cfg.StaticDir != "" && (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) {
			return c.Next() // the static files, then notFound
		}
		return notFound(c, path)
	}
	ctx, span := startCall(httpCalls, c, rt.trigger.Path)
	defer endCall(c, span)
	var claims map[string]any
	if rt.trigger.Auth == "jwt" {
		var err error
		if claims, err = s.verify(c); err != nil {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
			return sendError(c, fiber.StatusUnauthorized, "unauthorized", err.Error())
		}
	}
	body, ferr := s.readBody(c)
	if ferr != nil {
		return sendFiberError(c, ferr)
	}
	ev := &event.Event{
		ID:          requestID(c),
		Source:      "http",
		Time:        c.Context().Time().UTC(), // when fasthttp began the request: no clock read of our own
		Data:        body,
		ContentType: string(c.Request().Header.ContentType()),
		Attempt:     1,
		Headers:     requestHeaders(c),
		Claims:      claims,
		Method:      c.Method(),
		Path:        path,
		Params:      params.Map(),
		Query:       query(c),
	}
	if isCloudEvent(ev) {
		if err := readCloudEvent(ev); err != nil {
			return sendError(c, fiber.StatusBadRequest, "bad_cloudevent", "malformed CloudEvent: "+err.Error())
		}
	}
	if wantsAsync(rt.trigger.Async, c.Get("Prefer")) && (s.cfg.Async != nil || rt.trigger.Async == "always") {
		return s.invokeAsync(ctx, c, rt.fn, ev)
	}
	ctx = runtime.WithRequestID(ctx, requestID(c)) // a CloudEvent's ID is its own
	res, err := rt.fn.Invoke(ctx, ev)
	if err == nil {
		err = s.applyEffects(ctx, rt.fn.Name(), ev, res)
	}
	if err != nil {
		s.logInvokeError(c, rt.fn.Name(), err)
		return sendInvokeError(c, err)
	}
	return writeResult(c, res)
}

// notFound answers a request no route takes.
func notFound(c *fiber.Ctx, path string) error {
	return sendError(c, fiber.StatusNotFound, "not_found", "no route for "+c.Method()+" "+path)
}

// applyEffects publishes what the function emitted and notified before the caller is answered.
func (s *Server) applyEffects(ctx context.Context, function string, ev *event.Event, res *event.Result) error {
	if res == nil || len(res.Emitted)+len(res.Notified) == 0 {
		return nil
	}
	if s.cfg.Effects == nil {
		return fmt.Errorf("%w: no effects backend", runtime.ErrEffects)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.cfg.Effects.Apply(ctx, function, ev, res); err != nil {
		s.cfg.Logger.Error("effects failed", "function", function, "request_id", ev.ID, "error", err)
		// The caller sees the sentinel's message only, not what the broker said.
		if errors.Is(err, runtime.ErrInvalidEffect) {
			return runtime.ErrInvalidEffect
		}
		return runtime.ErrEffects
	}
	return nil
}

// verify checks the request's bearer token.
func (s *Server) verify(c *fiber.Ctx) (map[string]any, error) {
	token, ok := auth.BearerToken(c.Get(fiber.HeaderAuthorization))
	if !ok {
		return nil, errors.New("bearer token required")
	}
	return s.cfg.Auth.Verify(token)
}

// maxDrain is how much of an oversized body the gateway reads and discards so that the
// client, still sending, can read its 413: closing a socket with unread data resets it, and
// the reset destroys the response in flight. Bodies larger still get the 413 and a close.
const maxDrain = 16 << 20

// readBody returns a copy of the request body, or the error to answer with (413 when it is
// over the limit). The body is streamed, so an oversized one is refused without being buffered.
func (s *Server) readBody(c *fiber.Ctx) ([]byte, *fiber.Error) {
	req := c.Request()
	limit := s.cfg.BodyLimit
	n := req.Header.ContentLength()
	switch {
	case n > limit:
		return nil, s.tooLarge(c, int64(n))
	case n == -1: // chunked: read at most one byte past the limit
		body, err := io.ReadAll(io.LimitReader(req.BodyStream(), int64(limit)+1))
		if err != nil {
			return nil, fiber.NewError(fiber.StatusBadRequest, "could not read the request body")
		}
		if len(body) > limit {
			return nil, s.tooLarge(c, -1)
		}
		return body, nil
	}
	b := req.Body()
	if len(b) == 0 {
		return nil, nil
	}
	return append([]byte(nil), b...), nil // Fiber reuses the request's memory
}

// tooLarge returns the 413 after draining what is left of a body of length n (-1: chunked)
// when that is at most maxDrain; otherwise the connection closes after the answer.
func (s *Server) tooLarge(c *fiber.Ctx, n int64) *fiber.Error {
	if n <= int64(s.cfg.BodyLimit)+maxDrain {
		drainBody(c)
	} else {
		c.Context().SetConnectionClose()
	}
	return fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the limit of %d bytes", s.cfg.BodyLimit))
}

// drainBody reads and discards what is left of the request body, up to maxDrain, so that a
// client still sending it reads the answer rather than a reset. When more is left, or the body
// cannot be read, the connection closes after the answer.
func drainBody(c *fiber.Ctx) {
	stream := c.Request().BodyStream()
	if stream == nil {
		c.Context().SetConnectionClose()
		return
	}
	drained, err := io.Copy(io.Discard, io.LimitReader(stream, maxDrain+1))
	if err != nil || drained > maxDrain {
		c.Context().SetConnectionClose()
	}
}

// requestHeaders copies the request's headers (first value of each).
func requestHeaders(c *fiber.Ctx) map[string]string {
	h := make(map[string]string, 8)
	c.Request().Header.VisitAll(func(k, v []byte) {
		if _, dup := h[string(k)]; !dup {
			h[string(k)] = string(v)
		}
	})
	return h
}

// query copies the parsed query string; nil when there is none.
func query(c *fiber.Ctx) url.Values {
	args := c.Context().QueryArgs()
	if args.Len() == 0 {
		return nil
	}
	q := url.Values{}
	args.VisitAll(func(k, v []byte) {
		q.Add(string(k), string(v))
	})
	return q
}

// hopByHop reports whether k, in any case, names a response header a function may not set:
// the gateway owns the connection, the framing and the request ID.
func hopByHop(k string) bool {
	is := strings.EqualFold
	switch len(k) {
	case 2:
		return is(k, "te")
	case 7:
		return is(k, "upgrade") || is(k, "trailer")
	case 10:
		return is(k, "connection") || is(k, "keep-alive")
	case 12:
		return is(k, "x-request-id")
	case 14:
		return is(k, "content-length")
	case 16:
		return is(k, "proxy-connection")
	case 17:
		return is(k, "transfer-encoding")
	}
	return false
}

// writeResult sends the function's result (also an async reply). Headers a function may not
// set are dropped, never split or passed on: hop-by-hop ones, names that are not RFC 9110
// tokens, and values with control characters (CR, LF, NUL and the rest; a tab is allowed).
func writeResult(c *fiber.Ctx, res *event.Result) error {
	status := res.Status
	if status == 0 {
		status = fiber.StatusOK
	}
	if status < 100 || status > 599 {
		status = fiber.StatusInternalServerError
	}
	for k, v := range res.Headers {
		if !validHeaderName(k) || hopByHop(k) || !validHeaderValue(v) {
			continue
		}
		c.Set(k, v)
	}
	c.Status(status)
	return c.Send(res.Body)
}

// tokenChar and ctlChar classify bytes for the header checks below (one lookup per byte).
var tokenChar, ctlChar = func() (tok, ctl [256]bool) {
	for c := 0; c < 256; c++ {
		tok[c] = c > ' ' && c < 0x7f && strings.IndexByte(`"(),/:;<=>?@[\]{}`, byte(c)) < 0
		ctl[c] = (c < ' ' && c != '\t') || c == 0x7f
	}
	return tok, ctl
}()

// validHeaderName reports whether k is an RFC 9110 token: visible ASCII but no separators.
func validHeaderName[T string | []byte](k T) bool {
	if len(k) == 0 || len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !tokenChar[k[i]] {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v has no control characters but tabs.
func validHeaderValue[T string | []byte](v T) bool {
	for i := 0; i < len(v); i++ {
		if ctlChar[v[i]] {
			return false
		}
	}
	return true
}

func (s *Server) logInvokeError(c *fiber.Ctx, function string, err error) {
	var fe *runtime.FunctionError
	var re *runtime.Error
	switch {
	case errors.As(err, &fe):
		s.cfg.Logger.Warn("function failed", "function", function, "request_id", requestID(c), "detail", fe.Detail, "panic", fe.Panic)
	case errors.As(err, &re):
		s.cfg.Logger.Warn("invocation failed", "function", function, "request_id", requestID(c), "code", re.Code)
	}
}
