// Command hello is the smallest edgefn function: GET /hello/{name} answers a JSON greeting.
// `?greeting=` changes the greeting.
package main

import (
	"context"

	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	fn.Serve(fn.HandlerFunc(Hello))
}

// Greeting is hello's answer.
type Greeting struct {
	Message string `json:"message"`
}

// Hello greets the name in the route.
func Hello(_ context.Context, ev *fn.Event) (*fn.Result, error) {
	greeting := ev.Query.Get("greeting")
	if greeting == "" {
		greeting = "hello"
	}
	name := ev.Params["name"]
	if name == "" {
		name = "world"
	}
	return fn.JSON(200, Greeting{Message: greeting + ", " + name}), nil
}
