package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// ScheduleControl runs, pauses and resumes the schedule triggers of the deployed functions
// across the cluster, and describes them (docs/http.md#admin-api). dispatch.Manager
// implements it; methods return an error wrapping dispatch.ErrNoSchedule for a function
// without a schedule trigger.
type ScheduleControl interface {
	// Schedules describes f's schedule triggers: each one's next instant, and the pause.
	Schedules(ctx context.Context, f *manifest.Function) ([]dispatch.ScheduleInfo, error)
	// PauseSchedules pauses (true) or resumes f's schedule triggers on every node.
	PauseSchedules(ctx context.Context, f *manifest.Function, paused bool) error
	// RunSchedules starts one run of each of f's schedule triggers now; it returns their IDs.
	RunSchedules(ctx context.Context, f *manifest.Function) ([]string, error)
	// ScheduleDeadLetters names the stream of f's dead-lettered runs and the stream a
	// redrive moves them to, to run again.
	ScheduleDeadLetters(f *manifest.Function) (dead, runs string, err error)
}

var _ ScheduleControl = (*dispatch.Manager)(nil)

// describe is f's view with its Info and its schedules (the nodes are left to the caller); a
// store that does not answer leaves the pause unknown (false) and is logged, rather than
// failing a listing.
func (s *Server) describe(ctx context.Context, f *runtime.Function) FunctionView {
	out := FunctionView{Info: f.Info()}
	if m := f.Manifest(); m != nil && s.cfg.Schedules != nil {
		var err error
		if out.Schedules, err = s.cfg.Schedules.Schedules(ctx, m); err != nil {
			s.cfg.Logger.Warn("schedule state unavailable", "function", f.Name(), "error", err)
		}
	}
	return out
}

// scheduleTarget finds the function of a schedule request, or answers 404 (no such function,
// or no schedule trigger) or 501 (no schedules on this server).
func (s *Server) scheduleTarget(c *fiber.Ctx) (*manifest.Function, error) {
	if s.cfg.Schedules == nil {
		return nil, sendError(c, fiber.StatusNotImplemented, "unsupported", "this server runs no schedules")
	}
	f, err := s.function(c)
	if f == nil {
		return nil, err
	}
	m := f.Manifest()
	if m == nil {
		return nil, sendError(c, fiber.StatusNotFound, "not_found", fmt.Sprintf("function %q is not deployed", f.Name()))
	}
	return m, nil
}

// scheduleError answers an error of the schedule control: 404 for a function without a
// schedule trigger, else 502 (the cluster's store did not answer).
func scheduleError(c *fiber.Ctx, err error) error {
	if errors.Is(err, dispatch.ErrNoSchedule) {
		return sendError(c, fiber.StatusNotFound, "not_found", err.Error())
	}
	return sendError(c, fiber.StatusBadGateway, "backend_error", err.Error())
}

// adminScheduleRun answers POST /admin/v1/functions/{name}/schedule/run: one run of each of
// the function's schedule triggers, now.
func (s *Server) adminScheduleRun(c *fiber.Ctx) error {
	m, err := s.scheduleTarget(c)
	if m == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ids, err := s.cfg.Schedules.RunSchedules(ctx, m)
	if err != nil {
		return scheduleError(c, err)
	}
	return c.JSON(fiber.Map{"function": m.Name, "runs": ids})
}

// adminSchedulePause answers POST /admin/v1/functions/{name}/schedule/pause and .../resume.
func (s *Server) adminSchedulePause(paused bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		m, err := s.scheduleTarget(c)
		if m == nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.cfg.Schedules.PauseSchedules(ctx, m, paused); err != nil {
			return scheduleError(c, err)
		}
		infos, _ := s.cfg.Schedules.Schedules(ctx, m)
		return c.JSON(fiber.Map{"function": m.Name, "paused": paused, "schedules": infos})
	}
}
