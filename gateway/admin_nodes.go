package gateway

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/internal/cluster"
)

// NodeLister lists the nodes of this node's cluster (docs/cluster.md).
type NodeLister interface {
	// Nodes lists them, live first; an error means the registry's store did not answer.
	Nodes(ctx context.Context) (cluster.List, error)
}

var _ NodeLister = (*cluster.Registry)(nil)

// adminNodes answers GET /admin/v1/nodes: the cluster's nodes, or 503 when the registry's
// store (Redis) does not answer within 5 seconds.
func (s *Server) adminNodes(c *fiber.Ctx) error {
	if s.cfg.Nodes == nil {
		return sendError(c, fiber.StatusNotFound, "not_found", "this server has no node registry")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return sendError(c, fiber.StatusServiceUnavailable, "unavailable", err.Error())
	}
	return c.JSON(l)
}
