// Package fn is the edgefn function SDK: what a function's main package imports.
//
// A function is a Go program whose main calls Serve with a Handler. edgefn starts it as a plugin
// process (hashicorp/go-plugin), hands it events from the triggers of its manifest (HTTP routes,
// queues, streams, WebSocket topics) and carries out the Result it returns: the HTTP answer, the
// events it emits and the notifications it pushes to WebSocket subscribers.
//
//	func main() {
//		fn.Serve(fn.HandlerFunc(func(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
//			return fn.JSON(200, map[string]string{"hello": ev.Params["name"]}), nil
//		}))
//	}
//
// Handlers run concurrently: the gateway sends up to the manifest's `concurrency` invocations at
// once to each plugin process, so a handler must guard shared state. ctx carries the invocation's
// deadline (the manifest's `timeout`) and its trace context; a handler that outlives its deadline is
// answered with 504 by the gateway whatever it returns later. A panic in a handler is recovered and
// fails that invocation only.
//
// Event, Result and the effects are the types of runtime/event, which the gateway and the
// triggers use too: a function and the host speak of the same values. Package fntest calls a
// Handler in-process, without a plugin, for the function's own tests.
package fn
