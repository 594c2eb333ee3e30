package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
)

// Notifier publishes to WebSocket topics. The WebSocket hub implements it.
type Notifier interface {
	Notify(ctx context.Context, topic string, data []byte) error
}

// NotificationChecker is a Notifier that can tell, before anything is published, that it would
// refuse a notification for what it is (a malformed or reserved topic, data that is not UTF-8
// JSON), whenever it was sent.
type NotificationChecker interface {
	CheckNotification(topic string, data []byte) error
}

// Effects carries out what a successful invocation asks for: the messages it emits to queues
// and streams, the notifications it pushes to WebSocket topics, and the answer to an RPC
// caller's reply-to queue. Its methods are safe for concurrent use.
type Effects struct {
	// Queues and Streams receive emitted messages; required.
	Queues  triggers.Queues
	Streams triggers.Streams
	// Notifier receives notifications; nil refuses them with an error, so that a function
	// that notifies is not acknowledged as if its notification had gone out.
	Notifier Notifier
}

// Apply publishes res's emitted messages and notifications, caused by the event cause of the
// function named function. It returns the first error, which wraps runtime.ErrInvalidEffect
// when an effect is refused for what it is (none was carried out, and trying again would not
// help) and runtime.ErrEffects otherwise: effects already carried out stay done, so the retry
// that follows may repeat them (consumers de-duplicate on the ID, which is derived from the
// cause and stays the same across retries).
func (e *Effects) Apply(ctx context.Context, function string, cause *event.Event, res *event.Result) error {
	if res == nil {
		return nil
	}
	if c, ok := e.Notifier.(NotificationChecker); ok {
		for _, n := range res.Notified {
			if err := c.CheckNotification(n.Topic, n.Data); err != nil {
				return fmt.Errorf("%w: notify %s: %w", runtime.ErrInvalidEffect, shorten(n.Topic), err)
			}
		}
	}
	for _, m := range res.Emitted {
		if m.CloudEvent && m.Type == "" {
			return fmt.Errorf("%w: emit to %s: a CloudEvent needs a type", runtime.ErrInvalidEffect, shorten(m.Target))
		}
		if err := e.checkDelay(&m); err != nil {
			return fmt.Errorf("%w: emit to %s: %w", runtime.ErrInvalidEffect, shorten(m.Target), err)
		}
	}
	if err := e.apply(ctx, function, cause, res); err != nil {
		return fmt.Errorf("%w: %w", runtime.ErrEffects, err)
	}
	return nil
}

func (e *Effects) apply(ctx context.Context, function string, cause *event.Event, res *event.Result) error {
	for i, m := range res.Emitted {
		if m.Cancel {
			if err := e.cancel(ctx, &m); err != nil {
				return err
			}
			continue
		}
		msg := &triggers.Message{
			ID: m.ID, Type: m.Type, Source: "function/" + function, Subject: m.Subject, Time: time.Now().UTC(),
			ContentType: m.ContentType, Data: m.Data, CorrelationID: cause.CorrelationID,
			Priority: m.Priority, Headers: m.Headers,
		}
		if msg.ID == "" {
			msg.ID = effectID(cause.ID, function, i)
		}
		if msg.CorrelationID == "" {
			msg.CorrelationID = cause.ID
		}
		kind, publish := "stream", e.publishStream
		switch {
		case m.Queue && m.Delay > 0:
			kind, publish = "queue", func(ctx context.Context, queue string, msg *triggers.Message) error {
				return e.Queues.(triggers.Delayer).PublishDelayed(ctx, queue, m.Delay, msg)
			}
		case m.Queue:
			kind, publish = "queue", e.publishQueue
		}
		pctx, span := startPublish(ctx, msg.ID, "publish ", kind, "/", m.Target)
		msg.Traceparent = tracectx.Traceparent(pctx)
		var err error
		if m.CloudEvent {
			err = asCloudEvent(msg)
		}
		if err == nil {
			err = publish(pctx, m.Target, msg)
		}
		endSpan(span, err)
		if err != nil {
			return fmt.Errorf("emit to %s: %w", m.Target, err)
		}
	}
	for _, n := range res.Notified {
		if e.Notifier == nil {
			return fmt.Errorf("notify %s: WebSocket notifications are not available", n.Topic)
		}
		pctx, span := startPublish(ctx, "", "notify ", n.Topic)
		err := e.Notifier.Notify(pctx, n.Topic, n.Data)
		endSpan(span, err)
		if err != nil {
			return fmt.Errorf("notify %s: %w", shorten(n.Topic), err)
		}
	}
	return nil
}

// checkDelay refuses a delay or a cancellation the queue backend cannot carry out
// (docs/events.md, "Delayed messages").
func (e *Effects) checkDelay(m *event.Message) error {
	if m.Delay <= 0 && !m.Cancel {
		return nil
	}
	what := "a delay"
	if m.Cancel {
		what = "a cancellation"
	}
	if !m.Queue {
		return fmt.Errorf("%s is for queue messages, not streams", what)
	}
	if m.Cancel && m.ID == "" {
		return errors.New("a cancellation needs the ID of the delayed message")
	}
	d, ok := e.Queues.(triggers.Delayer)
	if !ok {
		return fmt.Errorf("the queue backend holds no delayed messages, so it takes no %s", what)
	}
	if m.Delay > d.MaxDelay() {
		return fmt.Errorf("the delay %v is longer than the queue backend holds (%v)", m.Delay, d.MaxDelay())
	}
	return nil
}

// cancel carries out a cancellation, which Apply checked.
func (e *Effects) cancel(ctx context.Context, m *event.Message) error {
	pctx, span := startPublish(ctx, m.ID, "cancel delayed queue/", m.Target)
	err := e.Queues.(triggers.Delayer).CancelDelayed(pctx, m.Target, m.ID)
	endSpan(span, err)
	if err != nil {
		return fmt.Errorf("cancel %s on %s: %w", shorten(m.ID), shorten(m.Target), err)
	}
	return nil
}

func (e *Effects) publishQueue(ctx context.Context, queue string, msg *triggers.Message) error {
	return e.Queues.PublishQueue(ctx, queue, msg)
}

func (e *Effects) publishStream(ctx context.Context, stream string, msg *triggers.Message) error {
	return e.Streams.PublishStream(ctx, stream, msg)
}

// Reply publishes res's body to the reply-to queue of the RPC request req (docs/events.md),
// with its correlation ID and the result's status in the header "status". The error wraps
// triggers.ErrNoReplyQueue when the reply queue is gone (the caller left).
func (e *Effects) Reply(ctx context.Context, req *triggers.Delivery, res *event.Result) error {
	status := http.StatusOK
	msg := &triggers.Message{}
	if res != nil {
		msg.Data = res.Body
		msg.ContentType = res.Headers["Content-Type"]
		if res.Status != 0 {
			status = res.Status
		}
	}
	msg.Headers = map[string]string{replyStatusHeader: strconv.Itoa(status)}
	return e.reply(ctx, req, msg)
}

// ReplyError publishes the error reply of an RPC request req that failed for good (it is
// being dead-lettered): the JSON error an HTTP caller would get for cause, with its status
// in the header "status" and its code in "x-edgefn-error" (docs/events.md).
func (e *Effects) ReplyError(ctx context.Context, req *triggers.Delivery, cause error) error {
	status, code, message := runtime.HTTPStatus(cause)
	body, err := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": message}})
	if err != nil {
		return fmt.Errorf("encode the error reply: %w", err)
	}
	return e.reply(ctx, req, &triggers.Message{
		Data: body, ContentType: "application/json",
		Headers: map[string]string{replyStatusHeader: strconv.Itoa(status), replyErrorHeader: code},
	})
}

// The headers of a reply: the status an HTTP caller would get, and an error reply's code.
const (
	replyStatusHeader = "status"
	replyErrorHeader  = "x-edgefn-error"
)

func (e *Effects) reply(ctx context.Context, req *triggers.Delivery, msg *triggers.Message) error {
	// The reply's ID follows from the request's, so that a retried request's reply is
	// recognised as the same one. It names a message, nothing more: no need to be unguessable.
	msg.ID = id.Unique()
	if req.ID != "" {
		msg.ID = req.ID + "/reply"
	}
	msg.CorrelationID, msg.Time = req.CorrelationID, time.Now().UTC()
	if err := e.Queues.PublishReply(ctx, req.ReplyTo, msg); err != nil {
		return fmt.Errorf("reply to %s: %w", shorten(req.ReplyTo), err)
	}
	return nil
}

// shorten keeps the first 64 bytes of a name a function gave, for messages: a function may
// name a topic of any length.
func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// effectID derives the ID of the i-th message the function emitted because of cause, so that
// a retried invocation emits the same IDs.
func effectID(causeID, function string, i int) string {
	if causeID == "" {
		return id.New()
	}
	return causeID + "/" + function + "/" + strconv.Itoa(i)
}
