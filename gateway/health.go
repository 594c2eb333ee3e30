package gateway

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz answers 200 while the process is up.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 200 when every function has a ready instance and every backend and trigger
// is up, else 503 with what is not.
func (s *Server) readyz(c *fiber.Ctx) error {
	var notReady []string
	if s.shuttingDown.Load() {
		notReady = append(notReady, "gateway: shutting down")
	}
	for _, f := range s.cfg.Host.Functions() {
		if !f.Ready() {
			notReady = append(notReady, "function "+f.Name()+": no ready instance")
		}
	}
	if s.cfg.Readiness != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		notReady = append(notReady, s.cfg.Readiness(ctx)...)
		cancel()
	}
	if len(notReady) > 0 {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "notReady": notReady})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
