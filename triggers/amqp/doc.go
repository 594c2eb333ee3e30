// Package amqp is edgefn's RabbitMQ queue backend, used when `edgefn serve` runs with
// --amqp URL (docs/cli.md). It implements triggers.Queues, triggers.DeadLetters and
// triggers.Pinger on one value, [Queues], and keeps every amqp091 type inside this package.
//
// Data enters through [Queues.PublishQueue]: each triggers.Message becomes one persistent
// AMQP message on the default exchange, routed to the queue of the same name, and the call
// returns once the broker confirmed it (publisher confirms). Data leaves through the
// triggers.Source that [Queues.ConsumeQueue] opens: one channel per consumer, manual
// acknowledgements, at most Prefetch unacknowledged deliveries.
//
// # Wire mapping (docs/events.md)
//
//	Message field   AMQP
//	Data            body
//	ID              message_id (a random 128-bit hex ID when empty)
//	Type            type
//	CorrelationID   correlation_id
//	Time            timestamp (now when zero; AMQP timestamps have whole seconds)
//	ContentType     content_type
//	ReplyTo         reply_to
//	Priority        priority (clamped to 0..255)
//	Traceparent     header "traceparent"
//	Subject         header "subject"
//	Source          header "source"
//	Headers         headers, as strings
//	Delivery.Attempt  header "x-edgefn-attempt" (absent: 1), plus one when the broker
//	                  redelivers (the Redelivered flag)
//	dead letters    headers "error" and "attempts" added to the original message
//
// Every message is published with delivery_mode 2 (persistent). The header names above are
// reserved: a Message.Headers entry with one of them is overwritten or dropped. On the way
// in, header values of other types (numbers, booleans, times) are formatted as strings;
// tables and arrays (RabbitMQ's x-death bookkeeping) are left out.
//
// # Declarations
//
// Queues are durable. A consumer declares its queue (with x-max-priority when MaxPriority
// is above zero) and its dead-letter queue (no arguments). Publishing to a queue this
// process has not seen first checks that it exists (a passive declare) and otherwise
// declares it durable without arguments, so no message is dropped by the default exchange;
// declare priority queues by opening their consumers before publishing to them. RabbitMQ
// refuses to re-declare a queue with other arguments (PRECONDITION_FAILED); that is
// reported as an error wrapping [ErrInequivalent], naming the queue, the arguments and
// the broker's reason. After a reconnect everything this process declared is declared again.
// [Queues.PublishReply] is the exception: an RPC reply goes to the caller's queue, which the
// caller declared (exclusive to its connection) or which is RabbitMQ's direct reply-to, and
// is never declared.
//
// # Retries
//
// Retry never blocks the messages behind the retried one: the message is copied, with its
// attempt header incremented, to a delay queue "<queue>.retry.<ms>" whose queue-level
// x-message-ttl is <ms> and whose dead-letter target (x-dead-letter-exchange "",
// x-dead-letter-routing-key <queue>) is the original queue; when the copy expires the
// broker moves it back. The copy is confirmed before the original is acknowledged, so a
// crash in between duplicates the message rather than losing it (at least once). Every
// message of a delay queue has the same TTL, so they expire in order and none waits behind
// a longer one. The delays are buckets: 100ms doubling up to 54m36.8s (100ms·2^15), then
// 1h, then whole hours; a delay is rounded up to its bucket, so a retry is never early and
// at most twice as late (a 700ms delay waits 800ms). A delay of zero or less requeues the
// copy at the tail of the queue at once. Delay queues carry x-expires (twice the TTL plus a
// minute), which a retry renews by declaring the queue again once (TTL + 1m)/2 passed since
// the last time, so the ones that stop being used vanish and none vanishes under a copy. The
// buckets and arguments are part of the wire contract between edgefn nodes: change them
// and existing delay queues are PRECONDITION_FAILED.
//
// # Delayed messages
//
// PublishDelayed (triggers.Delayer) sends a message through a ladder of 22 rungs, each a
// durable topic exchange and a durable queue named "edgefn.delay.<2^l>s" for l = 0..21,
// whose x-message-ttl is 2^l seconds. The message's routing key has one word per rung,
// highest first: "1" where the message waits in that rung's queue, "0" where it skips it
// (the rung's exchange routes it on to the exchange below), so the whole seconds of its delay
// are the sum of the rungs it waits in. A rung's queue dead-letters into the exchange below
// it, keeping the routing key; the last one dead-letters to the queue "edgefn.delay.due".
// Every Queues consumes that queue (a forwarder), waits out the part of the delay below a
// second (the header "x-edgefn-delay-due"), and publishes the message, confirmed, to its
// target (the header "x-edgefn-delay-queue"), without those two headers, before it
// acknowledges it. Every message of a rung has the same TTL, so none waits behind another:
// a message is late only by the broker's hops and the forward, never early (as long as the
// nodes' clocks agree). Messages are persistent and the queues durable, so a delayed
// message survives a restart of RabbitMQ and of every node; one that falls due while no
// node runs is forwarded when one starts. The longest delay is 2^22-1 s (about 48.5 days;
// every TTL stays below the 2^32 ms older brokers allow); a longer one is refused with
// triggers.ErrDelayTooLong.
//
// CancelDelayed declares a tombstone, a durable queue "edgefn.delay.cancelled.<hash of
// the target queue and the ID>" with x-expires just over the longest delay. Before it
// publishes a due message, the forwarder looks for its tombstone (a passive declare): when
// there is one, it deletes it and drops the message. So a cancellation lives in RabbitMQ
// with the message, is seen by every node and survives restarts; it cancels one message
// (a second copy with the same ID is delivered), and one that matches no message (it was
// delivered already) stays until it expires. The ladder's names and arguments are part of
// the wire contract between edgefn nodes, as the retry buckets are.
//
// # Connections
//
// [Queues] owns two connections, one for publishing and one for consuming (RabbitMQ's
// advice: flow control that blocks a publishing connection must not stall acks). When the
// broker drops one, it is re-dialled with capped, jittered exponential backoff; consumers
// re-subscribe on the new connection. Deliveries received before the drop cannot be
// acknowledged any more: Ack returns an error and the broker redelivers them (at least
// once). Receive does not fail during an outage, it waits; a publish waits for the
// reconnect up to its ctx. Ping fails while either connection is down or while the broker
// blocks publishing (a resource alarm).
//
// # Dead letters
//
// DeadLetter publishes the message with its original properties and headers, plus "error"
// and "attempts", to the source's dead-letter queue, confirmed, then acknowledges it.
// ListDead, Redrive and Purge (the triggers.DeadLetters of `edgefn dlq`) read a dead-letter
// queue with basic.get on a temporary channel; see deadletters.go for the ordering caveat.
package amqp
