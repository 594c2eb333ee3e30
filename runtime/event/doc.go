// Package event is the model of an invocation that every part of edgefn passes around: the
// Event a function is invoked with, the Result it answers with and the effects the Result
// carries (Messages to emit to streams and queues, Notifications to push to WebSocket
// topics), and the Error that carries an HTTP status.
//
// Events enter from the gateway (HTTP requests, WebSocket invokes) and from the triggers
// (queue and stream deliveries), travel to the plugin through runtime/wire, and reach the
// function's handler; the Result travels back the same way and its effects are carried out
// by the gateway and the triggers' dispatch. The function SDK (runtime/fn) re-exports these
// types under its own names, so a function and the host speak of the same values.
//
// The package holds data and the builders a handler uses on it; it imports nothing of edgefn.
package event
