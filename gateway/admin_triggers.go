package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
)

// publishRequest is the body of POST /admin/v1/publish: exactly one of Stream, Queue, Topic.
type publishRequest struct {
	Stream        string            `json:"stream"`
	Queue         string            `json:"queue"`
	Topic         string            `json:"topic"`
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	Subject       string            `json:"subject"`
	CorrelationID string            `json:"correlationId"`
	ReplyTo       string            `json:"replyTo"`
	Priority      int               `json:"priority"`
	Headers       map[string]string `json:"headers"`
	Data          json.RawMessage   `json:"data"`
	// Delay, a Go duration ("10m"), delivers a queue message that long later.
	Delay string `json:"delay"`
}

// adminPublish publishes one message to a stream or queue, or one notification to a topic.
func (s *Server) adminPublish(c *fiber.Ctx) error {
	body, ferr := s.readBody(c)
	if ferr != nil {
		return sendFiberError(c, ferr)
	}
	// Publications reach consumers and browsers as they are: they must be UTF-8 (encoding/json
	// alone lets invalid bytes through in a json.RawMessage).
	if !utf8.Valid(body) {
		return sendError(c, fiber.StatusBadRequest, "bad_request", "the body is not UTF-8")
	}
	var req publishRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return sendError(c, fiber.StatusBadRequest, "bad_request", "invalid JSON: "+err.Error())
	}
	targets := 0
	for _, t := range []string{req.Stream, req.Queue, req.Topic} {
		if t != "" {
			targets++
		}
	}
	if targets != 1 {
		return sendError(c, fiber.StatusBadRequest, "bad_request", "give exactly one of stream, queue or topic")
	}
	if s.cfg.Effects == nil {
		return sendError(c, fiber.StatusServiceUnavailable, "unavailable", "no publish backend")
	}
	var delay time.Duration
	if req.Delay != "" {
		var msg string
		if delay, msg = s.publishDelay(&req); msg != "" {
			return sendError(c, fiber.StatusBadRequest, "bad_request", msg)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if req.Topic != "" {
		if s.cfg.Effects.Notifier == nil {
			return sendError(c, fiber.StatusServiceUnavailable, "unavailable", "WebSocket notifications are not available")
		}
		if check, ok := s.cfg.Effects.Notifier.(dispatch.NotificationChecker); ok {
			if err := check.CheckNotification(req.Topic, req.Data); err != nil {
				return sendError(c, fiber.StatusBadRequest, "bad_request", err.Error())
			}
		}
		if err := s.cfg.Effects.Notifier.Notify(ctx, req.Topic, req.Data); err != nil {
			return sendError(c, fiber.StatusBadGateway, "publish_failed", err.Error())
		}
		return c.JSON(fiber.Map{"topic": req.Topic})
	}
	msg := &triggers.Message{
		ID: req.ID, Type: req.Type, Source: "admin", Subject: req.Subject, Time: time.Now().UTC(),
		ContentType: "application/json", Data: req.Data, CorrelationID: req.CorrelationID,
		ReplyTo: req.ReplyTo, Priority: req.Priority, Headers: req.Headers,
	}
	if msg.ID == "" {
		msg.ID = id.New()
	}
	var err error
	switch {
	case delay > 0:
		err = s.cfg.Effects.Queues.(triggers.Delayer).PublishDelayed(ctx, req.Queue, delay, msg)
	case req.Queue != "":
		err = s.cfg.Effects.Queues.PublishQueue(ctx, req.Queue, msg)
	default:
		err = s.cfg.Effects.Streams.PublishStream(ctx, req.Stream, msg)
	}
	if err != nil {
		return sendError(c, fiber.StatusBadGateway, "publish_failed", err.Error())
	}
	return c.JSON(fiber.Map{"id": msg.ID})
}

// publishDelay reads the delay of a publish request, or says why it is refused.
func (s *Server) publishDelay(req *publishRequest) (time.Duration, string) {
	delay, err := time.ParseDuration(req.Delay)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("delay: %q is not a duration such as 90s or 10m", req.Delay)
	case req.Queue == "":
		return 0, "delay: only queue messages take a delay"
	case delay < 0:
		return 0, "delay: must not be negative"
	}
	d, ok := s.cfg.Effects.Queues.(triggers.Delayer)
	if !ok {
		return 0, "delay: the queue backend holds no delayed messages"
	}
	if delay > d.MaxDelay() {
		return 0, fmt.Sprintf("delay: %v is longer than the queue backend holds (%v)", delay, d.MaxDelay())
	}
	return delay, ""
}

// deadLetterTarget is a trigger's dead letters: where they are kept, in which backend, and
// where a redrive sends them.
type deadLetterTarget struct {
	dl      triggers.DeadLetters
	trigger string // as the user names it: a queue or stream name, or schedule/FUNCTION
	kind    string // queue, stream or schedule
	dlq     string // the dead-letter queue or stream
	target  string // where a redrive moves them: the trigger's queue or stream, or its run stream
}

// findDeadLetters finds a deployed queue or stream trigger by its queue or stream name, or a
// function's schedule triggers by schedule/FUNCTION (docs/cli.md#dlq), or answers the
// request with 404 or 501 and returns nil.
func (s *Server) findDeadLetters(c *fiber.Ctx) (*deadLetterTarget, error) {
	name := c.Params("trigger")
	if fn := c.Params("name"); fn != "" {
		name = "schedule/" + fn
	} else if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	if fn, ok := strings.CutPrefix(name, "schedule/"); ok {
		return s.scheduleDeadLetters(c, name, fn)
	}
	for _, f := range s.cfg.Host.Functions() {
		m := f.Manifest()
		if m == nil {
			continue
		}
		for _, t := range m.Triggers {
			dt := &deadLetterTarget{trigger: name, target: name}
			switch {
			case t.Queue != nil && t.Queue.Name == name:
				dt.kind, dt.dlq = "queue", t.Queue.DeadLetter
			case t.Stream != nil && t.Stream.Name == name:
				dt.kind, dt.dlq = "stream", t.Stream.DeadLetter
			default:
				continue
			}
			var backend any
			if s.cfg.Effects != nil {
				backend = s.cfg.Effects.Streams
				if dt.kind == "queue" {
					backend = s.cfg.Effects.Queues
				}
			}
			return s.withDeadLetters(c, dt, backend)
		}
	}
	return nil, sendError(c, fiber.StatusNotFound, "not_found",
		fmt.Sprintf("no deployed function has a queue or stream trigger named %q", name))
}

// scheduleDeadLetters is the dead letters of function fn's schedule triggers: a stream of
// the stream backend (Redis with --redis), which a redrive moves back to the run stream.
func (s *Server) scheduleDeadLetters(c *fiber.Ctx, name, fn string) (*deadLetterTarget, error) {
	f := s.cfg.Host.Function(fn)
	var m *manifest.Function
	if f != nil {
		m = f.Manifest()
	}
	if m == nil || s.cfg.Schedules == nil {
		return nil, sendError(c, fiber.StatusNotFound, "not_found", fmt.Sprintf("function %q is not deployed with a schedule trigger", fn))
	}
	dead, runs, err := s.cfg.Schedules.ScheduleDeadLetters(m)
	if err != nil {
		return nil, scheduleError(c, err)
	}
	var backend any
	if s.cfg.Effects != nil {
		backend = s.cfg.Effects.Streams
	}
	return s.withDeadLetters(c, &deadLetterTarget{trigger: name, kind: "schedule", dlq: dead, target: runs}, backend)
}

// withDeadLetters completes dt with backend's DeadLetters, or answers 501.
func (s *Server) withDeadLetters(c *fiber.Ctx, dt *deadLetterTarget, backend any) (*deadLetterTarget, error) {
	dl, ok := backend.(triggers.DeadLetters)
	if !ok {
		return nil, sendError(c, fiber.StatusNotImplemented, "unsupported", "this backend cannot inspect dead letters")
	}
	dt.dl = dl
	return dt, nil
}

// deadLetterJSON is one dead letter as the admin API shows it.
type deadLetterJSON struct {
	ID            string            `json:"id"`
	Type          string            `json:"type,omitempty"`
	Subject       string            `json:"subject,omitempty"`
	Time          time.Time         `json:"time"`
	ContentType   string            `json:"contentType,omitempty"`
	CorrelationID string            `json:"correlationId,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Data          string            `json:"data"`
	Error         string            `json:"error"`
	Attempts      int               `json:"attempts"`
}

func (s *Server) adminDeadLetters(c *fiber.Ctx) error {
	dt, err := s.findDeadLetters(c)
	if dt == nil {
		return err
	}
	limit, _ := strconv.Atoi(c.Query("limit", "100"))
	limit = max(1, min(limit, 1000))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	dead, err := dt.dl.ListDead(ctx, dt.dlq, limit)
	if err != nil {
		return sendError(c, fiber.StatusBadGateway, "backend_error", err.Error())
	}
	out := make([]deadLetterJSON, len(dead))
	for i, d := range dead {
		out[i] = deadLetterJSON{ID: d.ID, Type: d.Type, Subject: d.Subject, Time: d.Time, ContentType: d.ContentType,
			CorrelationID: d.CorrelationID, Headers: d.Headers, Data: string(d.Data), Error: d.Error, Attempts: d.Attempts}
	}
	return c.JSON(fiber.Map{"trigger": dt.trigger, "kind": dt.kind, "deadLetter": dt.dlq, "messages": out})
}

func (s *Server) adminRedrive(c *fiber.Ctx) error {
	dt, err := s.findDeadLetters(c)
	if dt == nil {
		return err
	}
	limit, _ := strconv.Atoi(c.Query("limit", "1000"))
	limit = max(1, min(limit, 100000))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := dt.dl.Redrive(ctx, dt.dlq, dt.target, limit)
	if err != nil {
		return sendError(c, fiber.StatusBadGateway, "backend_error", fmt.Sprintf("redrive stopped after %d: %v", n, err))
	}
	return c.JSON(fiber.Map{"trigger": dt.trigger, "deadLetter": dt.dlq, "moved": n})
}

func (s *Server) adminPurge(c *fiber.Ctx) error {
	dt, err := s.findDeadLetters(c)
	if dt == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := dt.dl.Purge(ctx, dt.dlq)
	if err != nil {
		return sendError(c, fiber.StatusBadGateway, "backend_error", err.Error())
	}
	return c.JSON(fiber.Map{"trigger": dt.trigger, "deadLetter": dt.dlq, "purged": n})
}
