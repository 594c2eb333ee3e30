// Package dispatch connects queue and stream triggers to functions.
//
// A Manager keeps one Consumer running per queue or stream trigger of every deployed
// function, following deploys, rollbacks and deletes. A Consumer receives deliveries from a
// triggers.Source, turns each into an fn.Event, applies the trigger's filter, invokes the
// function, carries out the Result's effects (Effects: emitted messages, WebSocket
// notifications, the RPC reply) and only then acknowledges the delivery. A failure is retried
// with exponential backoff and jitter, then dead-lettered with its error and attempts.
//
// Data enters through a Source and leaves through the function's Invoker and the Publisher
// of the effects; nothing here knows which broker is behind them.
package dispatch
