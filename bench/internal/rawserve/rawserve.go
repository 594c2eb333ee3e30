// Package rawserve runs the baseline servers of the benchmarks (bench/rawfiber, bench/rawws)
// the one way they share: a Fiber app on the loopback address of -listen, GET /healthz
// answering 200 once it serves, until SIGTERM or SIGINT.
package rawserve

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
)

// grace bounds the shutdown: connections still open then are closed.
const grace = 5 * time.Second

// Main parses -listen (default addr), serves an app named name with GET /healthz and the routes
// that routes adds, and shuts it down on SIGTERM or SIGINT. It exits the process when the
// server cannot start or fails.
func Main(name, addr string, routes func(app *fiber.App)) {
	listen := flag.String("listen", addr, "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, name, *listen, routes); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, name, listen string, routes func(app *fiber.App)) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true, AppName: name})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	routes(app)
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	fmt.Fprintf(os.Stderr, "%s listening on %s\n", name, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return app.ShutdownWithTimeout(grace)
	}
}
