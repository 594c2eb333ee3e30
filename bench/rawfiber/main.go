// Command rawfiber is the baseline of edgefn's benchmarks: a plain Fiber server doing the work
// of functions/hello in its own handler, with no gateway and no plugin in between. GET
// /hello/{name} reads the `greeting` query and answers {"message":"GREETING, NAME"} encoded by
// encoding/json, as hello does; GET /healthz answers 200.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gofiber/fiber/v2"
)

// Greeting is the answer, the same type as hello's.
type Greeting struct {
	Message string `json:"message"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, *listen); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	app := newApp()
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	fmt.Fprintf(os.Stderr, "rawfiber listening on %s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return app.Shutdown()
	}
}

func newApp() *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, AppName: "rawfiber"})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	app.Get("/hello/:name", hello)
	return app
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
