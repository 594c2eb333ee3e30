// Package pluginserver is the plugin side of edgefn's function runtime: what runs inside a
// function's process around its handler. fn.Serve hands it the handler and it does the rest.
//
// go-plugin starts the process and connects the gateway over gRPC; the gateway's Open call
// makes the server listen on a private Unix socket, the data path (runtime/wire), which the
// gateway then dials. Requests (one invocation) and batch requests (several, from a queue or a
// stream) enter there as frames; each invocation runs on a worker with a context that carries
// its deadline, its trace context and its logger, and its Result or failure leaves as a
// response frame on the same connection. A cancel frame, or the deadline, ends the handler's
// context. When the gateway closes the data path the process exits.
//
// Quick handlers run in chunks on one worker and their answers leave in one write; slow ones
// get a worker each (see dataServer.chunk). Only the SDK imports this package.
package pluginserver
