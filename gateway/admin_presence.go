package gateway

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/gateway/ws"
	"github.com/edgefn/edgefn/gateway/ws/presence"
)

// adminPresence answers GET /admin/v1/topics/{topic}/presence?cursor=&limit=: a page of the
// clients on a WebSocket topic, across the cluster, and its counts
// (docs/websocket.md#presence).
func (s *Server) adminPresence(c *fiber.Ctx) error {
	if s.cfg.WS == nil {
		return sendError(c, fiber.StatusNotFound, "not_found", "this server has no WebSocket hub")
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ws.MaxAdminPresencePage {
			return sendError(c, fiber.StatusBadRequest, "bad_request",
				"limit must be 1 to "+strconv.Itoa(ws.MaxAdminPresencePage))
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := s.cfg.WS.Presence(ctx, c.Params("topic"), c.Query("cursor"), limit)
	switch {
	case errors.Is(err, ws.ErrInvalidTopic), errors.Is(err, presence.ErrBadCursor):
		return sendError(c, fiber.StatusBadRequest, "bad_request", err.Error())
	case err != nil:
		return sendError(c, fiber.StatusServiceUnavailable, "unavailable", err.Error())
	}
	return c.JSON(v)
}
