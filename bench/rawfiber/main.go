// Command rawfiber is the baseline of edgefn's benchmarks: a plain Fiber server doing the work
// of functions/hello in its own handler, with no gateway and no plugin in between. GET
// /hello/{name} reads the `greeting` query and answers {"message":"GREETING, NAME"} encoded by
// encoding/json, as hello does; GET /healthz answers 200.
package main

import (
	"encoding/json"

	"github.com/edgefn/edgefn/bench/internal/rawserve"
	"github.com/gofiber/fiber/v2"
)

// Greeting is the answer, the same type as hello's.
type Greeting struct {
	Message string `json:"message"`
}

func main() {
	rawserve.Main("rawfiber", "127.0.0.1:8081", func(app *fiber.App) { app.Get("/hello/:name", hello) })
}

// hello is functions/hello's handler written against Fiber directly.
func hello(c *fiber.Ctx) error {
	greeting := c.Query("greeting")
	if greeting == "" {
		greeting = "hello"
	}
	name := c.Params("name")
	if name == "" {
		name = "world"
	}
	body, err := json.Marshal(Greeting{Message: greeting + ", " + name})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(fiber.StatusOK).Send(body)
}
