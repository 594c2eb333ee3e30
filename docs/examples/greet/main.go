// Command greet is the example function of docs/sdk.md.
package main

import (
	"context"
	"strings"

	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	fn.Serve(fn.HandlerFunc(Greet))
}

// Greeting is what the function answers and notifies.
type Greeting struct {
	Text string `json:"text"`
}

// Greet answers POST /greet/{room} with {"name": "..."}: it greets the caller, emits a
// Greeted event to the stream greetings and notifies the room's WebSocket topic.
func Greet(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	var in struct {
		Name string `json:"name"`
	}
	if err := ev.Decode(&in); err != nil {
		return nil, fn.Errorf(400, "the body is JSON like {\"name\": \"ada\"}: %v", err)
	}
	if strings.TrimSpace(in.Name) == "" {
		return nil, fn.Errorf(422, "name is required")
	}
	g := Greeting{Text: "hello, " + in.Name}
	fn.Logger(ctx).Info("greeted", "name", in.Name, "attempt", ev.Attempt)
	return fn.JSON(201, g).
		SetHeader("Cache-Control", "no-store").
		Emit(fn.ToStream("greetings", "Greeted", g).WithSubject(in.Name)).
		Notify("rooms."+ev.Params["room"], g), nil
}
