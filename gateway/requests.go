package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/gateway/async"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
)

// maxWait bounds GET /requests/{id}?wait=.
const maxWait = 60 * time.Second

// wantsAsync reports whether a call to a route with the given async setting runs
// asynchronously: always, or when allowed and the caller prefers it (RFC 7240).
func wantsAsync(setting, prefer string) bool {
	switch setting {
	case "always":
		return true
	case "never":
		return false
	}
	if prefer == "" {
		return false
	}
	for _, p := range strings.Split(prefer, ",") {
		if name, _, _ := strings.Cut(strings.TrimSpace(p), "="); strings.EqualFold(strings.TrimSpace(name), "respond-async") {
			return true
		}
	}
	return false
}

// invokeAsync accepts a call for later: 202 with the request's ID once its invocation is
// queued. A function that cannot run now gets the error a synchronous call would get.
func (s *Server) invokeAsync(ctx context.Context, c *fiber.Ctx, f *runtime.Function, ev *event.Event) error {
	if s.cfg.Async == nil {
		return sendError(c, fiber.StatusServiceUnavailable, "unavailable", "async calls are not enabled on this server")
	}
	if err := f.CanRun(); err != nil {
		return sendInvokeError(c, err)
	}
	key := c.Get("Idempotency-Key")
	if len(key) > 255 {
		return sendError(c, fiber.StatusBadRequest, "bad_request", "Idempotency-Key is longer than 255 characters")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := s.cfg.Async.Submit(ctx, f.Name(), ev, s.caller(c, ev.Claims), key)
	var reused *async.KeyReusedError
	if errors.As(err, &reused) {
		return sendError(c, fiber.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used for another call ("+differ(reused.Differs())+"); use a new key for a new call")
	}
	if err != nil {
		s.cfg.Logger.Error("async call not accepted", "function", f.Name(), "request_id", ev.ID, "error", err)
		c.Set(fiber.HeaderRetryAfter, "1")
		return sendError(c, fiber.StatusServiceUnavailable, "unavailable", "the call could not be queued; try again")
	}
	c.Set(fiber.HeaderLocation, "/requests/"+id)
	c.Set("X-Correlation-ID", id)
	c.Set("Preference-Applied", "respond-async")
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": id, "status": "pending", "topic": async.TopicPrefix + id})
}

// caller is who makes or asks for an async request: the verified claims (nil without a
// token) and the client IP the rate limits count by.
func (s *Server) caller(c *fiber.Ctx, claims map[string]any) async.Caller {
	return async.Caller{Claims: claims, IP: s.cfg.ClientIP.Of(c).String()}
}

// differ says that the named parts differ: "the body differs", "the path and body differ".
func differ(parts []string) string {
	switch len(parts) {
	case 0:
		return "nothing differs"
	case 1:
		return "the " + parts[0] + " differs"
	}
	return "the " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1] + " differ"
}

// getRequest answers GET /requests/{id}: 202 while pending, the function's own reply when
// done, 404 when unknown or expired. ?wait=10s holds a pending request until the reply or
// the wait ends. A request made with a JWT is only shown to the same sub, or, when the JWT
// had none, to the same client IP (docs/async.md#who-may-see-it).
func (s *Server) getRequest(c *fiber.Ctx) error {
	if s.cfg.Async == nil {
		return notFound(c, c.Path())
	}
	id := c.Params("id")
	var claims map[string]any
	if c.Get(fiber.HeaderAuthorization) != "" {
		var err error
		if claims, err = s.verify(c); err != nil {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
			return sendError(c, fiber.StatusUnauthorized, "unauthorized", err.Error())
		}
	}
	var wait time.Duration
	if w := c.Query("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < 0 {
			return sendError(c, fiber.StatusBadRequest, "bad_request", "wait must be a duration such as 10s")
		}
		wait = min(d, maxWait)
	}
	ctx, cancel := context.WithTimeout(s.stopping, wait+10*time.Second)
	defer cancel()
	var rec *async.Record
	var err error
	if wait > 0 {
		wctx, wcancel := context.WithTimeout(ctx, wait)
		rec, err = s.cfg.Async.Wait(wctx, id, s.caller(c, claims))
		wcancel()
	} else {
		rec, err = s.cfg.Async.Get(ctx, id, s.caller(c, claims))
	}
	switch {
	case errors.Is(err, async.ErrNotFound):
		return sendError(c, fiber.StatusNotFound, "not_found", "no async request "+id+" (unknown, or its reply expired)")
	case errors.Is(err, async.ErrForbidden):
		if claims == nil {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer`)
			return sendError(c, fiber.StatusUnauthorized, "unauthorized", "this request was made with a token; fetch it with the same subject's token")
		}
		return sendError(c, fiber.StatusForbidden, "forbidden", "this request belongs to another subject")
	case errors.Is(err, async.ErrOtherIP):
		return sendError(c, fiber.StatusForbidden, "forbidden", "this request was made with a token without a subject; only its client IP may fetch it")
	case err != nil:
		s.cfg.Logger.Error("async store unavailable", "id", id, "error", err)
		return sendError(c, fiber.StatusServiceUnavailable, "unavailable", "the reply store cannot be read; try again")
	}
	c.Set("X-Correlation-ID", rec.ID)
	c.Set("Edgefn-Request-State", string(rec.State))
	if rec.State != async.Done {
		c.Set(fiber.HeaderRetryAfter, "1")
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": rec.ID, "status": "pending"})
	}
	return writeResult(c, &event.Result{Status: rec.Status, Headers: rec.Headers, Body: rec.Body})
}
