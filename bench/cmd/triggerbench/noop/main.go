// Command noop is the function triggerbench measures the triggers with. A queue or stream
// event is answered with nothing at all, so what a run costs is edgefn's: the trigger, the
// invocation, the acknowledgement.
//
// The same binary is also the producer of the embedded-backend measurements: called over HTTP
// (POST /burst?to=queue|stream&name=NAME&n=K), it answers 202 and emits K messages to that
// queue or stream, which the gateway publishes before it answers.
package main

import (
	"context"
	"strconv"

	"github.com/edgefn/edgefn/runtime/fn"
)

// maxBurst bounds the messages one call may emit.
const maxBurst = 10_000

func main() {
	fn.Serve(fn.HandlerFunc(handle))
}

func handle(_ context.Context, ev *fn.Event) (*fn.Result, error) {
	if ev.Source != "http" {
		return nil, nil
	}
	return burst(ev)
}

// burst emits the messages an HTTP call asks for.
func burst(ev *fn.Event) (*fn.Result, error) {
	name := ev.Query.Get("name")
	n, err := strconv.Atoi(ev.Query.Get("n"))
	if name == "" || err != nil || n < 1 || n > maxBurst {
		return nil, fn.Errorf(400, "want ?to=queue|stream&name=NAME&n=1..%d", maxBurst)
	}
	to := fn.ToStream
	switch ev.Query.Get("to") {
	case "queue":
		to = fn.ToQueue
	case "stream":
	default:
		return nil, fn.Errorf(400, "to must be queue or stream")
	}
	msgs := make([]fn.Message, n)
	for i := range msgs {
		msgs[i] = to(name, "bench.tick", i)
	}
	return fn.Status(202).Emit(msgs...), nil
}
