// Package runtime runs functions: it starts their plugin processes, keeps them alive, and
// invokes them.
//
// Data enters through Host.Deploy (a validated manifest and a plugin binary) and leaves through
// the Invoker of each deployed Function: the gateway and the triggers hand it an fn.Event and get
// an fn.Result or an *Error with the HTTP status to answer; the triggers hand it batches too
// (InvokeBatch). A call is a batch of one, and every batch passes, in order, through the circuit
// breaker (breaker.go), the concurrency limit (limit.go), the deadline (timeout.go) and a pool
// of warm plugin processes (pool.go, instance.go), each a stage that takes a batch (invoker.go);
// the chain is built in one place, newVersion in version.go.
//
// Versions: every deploy of a name makes a new version. It starts and becomes ready before it
// takes traffic; the previous version then drains its in-flight invocations and stops. Versions
// deployed through the admin API are kept under the data directory (store.go) so they come back
// after a restart, and rollback returns to the previous one.
package runtime
