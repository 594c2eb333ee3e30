// Command fn is the function wsfnbench deploys: its connect event signs every client in as
// "bench" ({"claims":{"sub":"bench"}}), and anything else (an rpc, an HTTP call) gets its data
// back as JSON, so that the socket and HTTP run the same function doing the same work.
package main

import (
	"context"

	"github.com/edgefn/edgefn/runtime/fn"
)

var signedIn = []byte(`{"claims":{"sub":"bench"}}`)

func main() {
	fn.Serve(fn.HandlerFunc(func(_ context.Context, ev *fn.Event) (*fn.Result, error) {
		if ev.Type == "edgefn.ws.connect" {
			return fn.Bytes(200, "application/json", signedIn), nil
		}
		return fn.Bytes(200, "application/json", ev.Data), nil
	}))
}
