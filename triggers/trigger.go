package triggers

import (
	"context"
	"errors"
	"time"
)

// Message is one event on a queue or a stream: what a publisher sends and what a delivery
// carries. Backends map it to their wire format (docs/events.md): AMQP properties and headers, or
// Redis stream entry fields.
type Message struct {
	// ID identifies the message so that consumers can de-duplicate; publishers set one when
	// it is empty.
	ID string
	// Type is the event type, e.g. "OrderCreated".
	Type string
	// Source says where the event was produced, e.g. "function/create-order".
	Source string
	// Subject is the event's subject, if any.
	Subject string
	// Time is when the event was produced; publishers set it when zero.
	Time time.Time
	// ContentType is the media type of Data.
	ContentType string
	// Data is the payload.
	Data []byte
	// CorrelationID ties the message to a request or conversation.
	CorrelationID string
	// ReplyTo names the queue a queue-triggered function's result is published to (RPC).
	ReplyTo string
	// Priority is the message priority on a priority queue; ignored elsewhere.
	Priority int
	// Headers are extra headers.
	Headers map[string]string
	// Traceparent is the W3C trace context of the producer.
	Traceparent string
}

// Delivery is one message handed to a consumer, to be settled exactly once through its
// Source: Ack, Retry or DeadLetter.
type Delivery struct {
	Message
	// Attempt is 1 on the first delivery and grows with each redelivery.
	Attempt int
	// Token is the backend's handle on the delivery (a delivery tag, a stream entry ID).
	Token any
}

// Source consumes one queue, or one consumer group of one stream.
//
// Guarantees, which the conformance suite (triggertest) checks for every backend:
//   - At least once: a delivery that is not acknowledged (the consumer failed, crashed or
//     closed) is delivered again, to this consumer or another of the same queue or group.
//   - Consumers of the same queue or group share the work: each message goes to one of them.
//   - Retry redelivers the message no sooner than the delay asks, with Attempt one higher,
//     without holding back the messages behind it.
//   - DeadLetter moves the message, with its attempts and the reason, to the dead-letter
//     queue or stream named when the source was opened, and settles it.
//
// Receive, Ack, Retry and DeadLetter are safe for concurrent use. After Close, Receive
// returns ErrClosed and unsettled deliveries return to the queue or group.
type Source interface {
	// Receive blocks until at least one delivery is available, ctx ends or the source is
	// closed, and returns up to max deliveries in order.
	Receive(ctx context.Context, max int) ([]*Delivery, error)
	// Ack settles deliveries as done.
	Ack(ctx context.Context, ds ...*Delivery) error
	// Retry settles d as failed, to be delivered again after delay.
	Retry(ctx context.Context, d *Delivery, delay time.Duration) error
	// DeadLetter settles d as failed for good, recording why.
	DeadLetter(ctx context.Context, d *Delivery, reason string) error
	// Close stops consuming. It is idempotent.
	Close() error
}

// QueueOptions open a queue consumer.
type QueueOptions struct {
	// Queue is the queue's name; it is declared (durable) when missing.
	Queue string
	// Prefetch bounds unacknowledged deliveries held by this consumer; default 16.
	Prefetch int
	// DeadLetter is the dead-letter queue; default Queue+".dlq".
	DeadLetter string
	// MaxPriority, when above zero, declares a priority queue.
	MaxPriority int
}

// StreamOptions open a stream consumer.
type StreamOptions struct {
	// Stream is the stream's name.
	Stream string
	// Group is the consumer group; created when missing.
	Group string
	// Consumer names this consumer within the group; it must be unique among live
	// consumers (a node ID and a counter do).
	Consumer string
	// FromOldest makes a new group start at the beginning of the stream instead of at its end.
	FromOldest bool
	// ClaimAfter is how long an entry may stay pending with a consumer that does not
	// settle it before another consumer claims it: the function's timeout with a margin.
	// Default 30s.
	ClaimAfter time.Duration
	// DeadLetter is the dead-letter stream; default Stream+".dlq".
	DeadLetter string
}

// Queues is a queue backend: the embedded one or RabbitMQ.
type Queues interface {
	// PublishQueue publishes msgs to the queue durably: it returns once the backend has
	// accepted them (publisher confirms for RabbitMQ).
	PublishQueue(ctx context.Context, queue string, msgs ...*Message) error
	// ConsumeQueue opens a consumer of a queue.
	ConsumeQueue(ctx context.Context, opts QueueOptions) (Source, error)
	// PublishReply publishes msg, the answer to an RPC request, to the request's reply-to
	// queue without declaring it: a reply queue belongs to the caller (an exclusive queue of
	// its connection, or RabbitMQ's direct reply-to). It returns an error wrapping
	// ErrNoReplyQueue when no queue took the message: the caller is gone.
	PublishReply(ctx context.Context, replyTo string, msg *Message) error
}

// Delayer is the optional capability of a queue backend to deliver a message after a delay
// and to cancel it before then (docs/events.md, "Delayed messages"). Both queue backends
// implement it on the same value as Queues.
//
// A delayed message reaches its queue no sooner than its delay and, while the backend runs,
// within 1 % of the delay or 1 s after it, whichever is longer. It keeps its ID, which is what
// CancelDelayed names.
type Delayer interface {
	// MaxDelay is the longest delay the backend holds.
	MaxDelay() time.Duration
	// PublishDelayed publishes msgs to queue after delay, durably when the backend is (it
	// returns once the backend holds them). A delay of zero or less publishes at once; one
	// above MaxDelay is refused with an error wrapping ErrDelayTooLong and nothing is
	// published. It sets the ID and Time of a message that has none.
	PublishDelayed(ctx context.Context, queue string, delay time.Duration, msgs ...*Message) error
	// CancelDelayed cancels the delayed messages to queue with the ID id that are not
	// delivered yet. It does not say whether there was one: a message that was delivered
	// already, or never published, is no error.
	CancelDelayed(ctx context.Context, queue, id string) error
}

// Streams is a stream backend: the embedded one or Redis Streams.
type Streams interface {
	// PublishStream appends msgs to the stream.
	PublishStream(ctx context.Context, stream string, msgs ...*Message) error
	// ConsumeStream opens a consumer in a consumer group of a stream.
	ConsumeStream(ctx context.Context, opts StreamOptions) (Source, error)
}

// Lagger is the optional capability of a Source to say how far behind its consumer is: the
// ready messages of its queue, or the entries of its stream not yet delivered to its group
// (the metric edgefn_trigger_lag).
type Lagger interface {
	Lag(ctx context.Context) (int64, error)
}

// DeadLetters is the optional capability behind `edgefn dlq`: inspect, re-drive and purge
// a dead-letter queue or stream. Backends that offer it implement it on the same value as
// Queues or Streams.
type DeadLetters interface {
	// ListDead returns up to limit dead-lettered messages of the dead-letter queue or stream
	// name, oldest first, without removing them.
	ListDead(ctx context.Context, name string, limit int) ([]DeadMessage, error)
	// Redrive moves up to limit dead-lettered messages back to target, where they start
	// again at attempt 1, and returns how many it moved.
	Redrive(ctx context.Context, name, target string, limit int) (int, error)
	// Purge deletes every dead-lettered message of name and returns how many it deleted.
	Purge(ctx context.Context, name string) (int, error)
}

// DeadMessage is a dead-lettered message with why it was given up.
type DeadMessage struct {
	Message
	// Error is the last failure.
	Error string
	// Attempts is how many times it was tried.
	Attempts int
}

// Pinger is the optional capability of a backend that depends on a broker connection.
type Pinger interface {
	// Ping returns nil while the backend can reach its broker.
	Ping(ctx context.Context) error
}

// ErrClosed is returned by a Source after Close.
var ErrClosed = errors.New("triggers: source closed")

// ErrDelayTooLong is wrapped by PublishDelayed's error for a delay above the backend's
// MaxDelay.
var ErrDelayTooLong = errors.New("the delay is longer than the queue backend holds")

// ErrNoReplyQueue is wrapped by PublishReply's error when the reply queue does not exist.
var ErrNoReplyQueue = errors.New("the reply queue does not exist")
