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
// The Manager also keeps one Scheduler running per schedule trigger. At each instant of the
// trigger's expression (package internal/cron) it claims the instant through Claims (in
// Redis with --redis, so that one node of the cluster runs it), skips it while the previous
// run still goes, and invokes the function with a schedule event (ScheduleEvent), carrying out
// the Result's effects as a consumer does.
//
// Data enters through a Source (or a schedule's clock) and leaves through the function's Invoker and, for the
// effects, the Queues, Streams and Notifier of Effects; nothing here knows which broker is
// behind them.
package dispatch
