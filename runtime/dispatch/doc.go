// Package dispatch wires the deliveries of queue and stream triggers to the functions they
// invoke, and carries out the effects of each function's result. It sits above both the
// broker contracts of package triggers and the runtime that invokes functions.
//
// A Manager keeps one Consumer running per queue or stream trigger of every deployed
// function, following deploys, rollbacks and deletes. A Consumer receives deliveries from a
// triggers.Source, turns each into an fn.Event, applies the trigger's filter, invokes the
// function, carries out the Result's effects (Effects: emitted messages, WebSocket
// notifications, the RPC reply) and only then acknowledges the delivery. A failure is retried
// with exponential backoff and jitter, then dead-lettered with its error and attempts.
//
// The Manager also keeps a Scheduler per schedule trigger, all on one Clock (a heap by next
// instant, one goroutine). At each instant of a trigger's expression (package internal/cron)
// the clock fires the instant through a ScheduleStore (in Redis with --redis, so that one node
// of the cluster runs it; nobody while the function is paused), with the run lock unless
// overlap is on, batching every trigger due at that instant into one call, and publishes the
// runs it won to each function's run stream (ScheduleStreams), or has the store append them
// with the claims (a RunAppender: Redis). A Consumer of that stream per
// function invokes each run with a schedule event (ScheduleEvent), retries it with its
// trigger's retries and backoff, dead-letters it, and releases the run lock; a run that a
// dead node held is claimed by another node's consumer, like any stream delivery.
//
// Data enters through a Source (or a schedule's clock) and leaves through the function's Invoker and, for the
// effects, the Queues, Streams and Notifier of Effects; nothing here knows which broker is
// behind them.
package dispatch
