// Package triggers defines the contracts of the brokers events come from and go to: [Queues]
// and [Streams] publish messages and open a [Source] that delivers them to one consumer, and
// [Topics] fans WebSocket publications out to every node.
//
// The backends implementing them live in memory/, redis/ and amqp/, and triggertest/ is the
// conformance suite each of them passes. Messages enter a backend as [Message] values and
// leave it as [Delivery] values that the consumer settles through its Source; what a delivery
// invokes, and how the function's effects are carried out, is decided above this package, in
// runtime/dispatch.
package triggers
