package amqp

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/triggers"
)

// Reserved header names (docs/events.md).
const (
	headerTraceparent = "traceparent"
	headerSubject     = "subject"
	headerSource      = "source"
	// headerAttempt is the attempt the next delivery of a retried copy counts as.
	headerAttempt = "x-edgefn-attempt"
	// headerError and headerAttempts are added to dead-lettered messages.
	headerError    = "error"
	headerAttempts = "attempts"
)

// fill sets the ID and Time publishers owe a message that has none.
func fill(m *triggers.Message) {
	if m.ID == "" {
		m.ID = id.New()
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
}

// toPublishing maps a message to a persistent AMQP message; see the package comment.
func toPublishing(m *triggers.Message) amqp091.Publishing {
	h := make(amqp091.Table, len(m.Headers)+3)
	for k, v := range m.Headers {
		h[k] = v
	}
	setOrDrop(h, headerTraceparent, m.Traceparent)
	setOrDrop(h, headerSubject, m.Subject)
	setOrDrop(h, headerSource, m.Source)
	delete(h, headerAttempt) // a published message starts at attempt 1
	return amqp091.Publishing{
		Headers:       h,
		ContentType:   m.ContentType,
		DeliveryMode:  amqp091.Persistent,
		Priority:      clampPriority(m.Priority),
		CorrelationId: m.CorrelationID,
		ReplyTo:       m.ReplyTo,
		MessageId:     m.ID,
		Timestamp:     m.Time,
		Type:          m.Type,
		Body:          m.Data,
	}
}

func setOrDrop(h amqp091.Table, k, v string) {
	if v == "" {
		delete(h, k)
		return
	}
	h[k] = v
}

func clampPriority(p int) uint8 {
	return uint8(min(max(p, 0), 255))
}

// fromDelivery maps an AMQP message back to a message and the attempt it is.
func fromDelivery(d *amqp091.Delivery) (triggers.Message, int) {
	m := triggers.Message{
		ID:            d.MessageId,
		Type:          d.Type,
		ContentType:   d.ContentType,
		Data:          d.Body,
		CorrelationID: d.CorrelationId,
		ReplyTo:       d.ReplyTo,
		Priority:      int(d.Priority),
	}
	if !d.Timestamp.IsZero() {
		m.Time = d.Timestamp.UTC()
	}
	attempt := 1
	for k, v := range d.Headers {
		switch {
		case k == headerTraceparent:
			m.Traceparent, _ = headerString(v)
		case k == headerSubject:
			m.Subject, _ = headerString(v)
		case k == headerSource:
			m.Source, _ = headerString(v)
		case k == headerAttempt:
			if n, ok := headerInt(v); ok && n > 0 {
				attempt = n
			}
		case isBrokerHeader(k):
		default:
			if s, ok := headerString(v); ok {
				if m.Headers == nil {
					m.Headers = make(map[string]string, len(d.Headers))
				}
				m.Headers[k] = s
			}
		}
	}
	if d.Redelivered {
		// The broker gave it to a consumer that did not settle it: that was an attempt.
		attempt++
	}
	return m, attempt
}

// isBrokerHeader reports the headers RabbitMQ adds when it dead-letters a message (an
// expired retry copy, for one); edgefn counts attempts itself and leaves them out.
func isBrokerHeader(k string) bool {
	return k == "x-death" || strings.HasPrefix(k, "x-first-death-") || strings.HasPrefix(k, "x-last-death-")
}

// headerString formats a scalar header value; tables, arrays and nil are not scalars.
func headerString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	case bool:
		return strconv.FormatBool(v), true
	case int, int8, int16, int32, int64, uint8, uint16, uint32:
		return fmt.Sprint(v), true
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case time.Time:
		return v.UTC().Format(time.RFC3339), true
	case amqp091.Decimal:
		return fmt.Sprintf("%de-%d", v.Value, v.Scale), true
	}
	return "", false
}

// headerInt reads an integer header whatever integer type, or decimal string, carries it.
func headerInt(v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case int8:
		return int(v), true
	case int16:
		return int(v), true
	case int32:
		return int(v), true
	case int64:
		return int(v), true
	case uint8:
		return int(v), true
	case uint16:
		return int(v), true
	case uint32:
		return int(v), true
	case string:
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	return 0, false
}

// republishing copies a received message for publishing again (a retry, a dead letter, a
// redrive) with its original properties and headers. It leaves out what the broker added
// (x-death), the user_id (RabbitMQ refuses one that is not the publishing connection's user)
// and a per-message expiration (the copy's lifetime is the target queue's business).
func republishing(d *amqp091.Delivery) amqp091.Publishing {
	h := make(amqp091.Table, len(d.Headers)+2)
	for k, v := range d.Headers {
		if !isBrokerHeader(k) {
			h[k] = v
		}
	}
	return amqp091.Publishing{
		Headers:         h,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp091.Persistent,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		AppId:           d.AppId,
		Body:            d.Body,
	}
}

// deadMessage maps a message of a dead-letter queue, whose error and attempts headers
// become fields.
func deadMessage(d *amqp091.Delivery) triggers.DeadMessage {
	m, _ := fromDelivery(d)
	dm := triggers.DeadMessage{Message: m}
	dm.Error = m.Headers[headerError]
	dm.Attempts, _ = strconv.Atoi(m.Headers[headerAttempts])
	delete(dm.Headers, headerError)
	delete(dm.Headers, headerAttempts)
	if len(dm.Headers) == 0 {
		dm.Headers = nil
	}
	return dm
}
