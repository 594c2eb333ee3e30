// Package proto holds the messages and the control service that the gateway and a function
// plugin exchange, generated from function.proto by `make proto`. Only the runtime and the SDK
// import it: the rest of edgefn sees fn.Event and fn.Result.
package proto
