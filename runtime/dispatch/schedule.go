package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// ScheduleEventType is the Type of the events of schedule triggers (docs/events.md).
const ScheduleEventType = "edgefn.schedule"

// Claims decide which node of a cluster runs each scheduled instant, and keep a schedule's
// runs from overlapping: a key is held by one owner until it is released or its ttl ends.
// Implementations are safe for concurrent use.
type Claims interface {
	// Claim takes key for owner for ttl unless it is held; it reports whether it took it.
	Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Release gives key up if owner still holds it.
	Release(ctx context.Context, key, owner string) error
}

const (
	// maxLate is how late an instant may still start: a node that wakes up later (it was
	// paused, its clock jumped) does not run it. Ticks that passed are not replayed.
	maxLate = time.Minute
	// instantClaimTTL keeps an instant claimed past the moment any node, however late within
	// maxLate and skewed by a few seconds, could still try it.
	instantClaimTTL = 2*maxLate + 30*time.Second
	// claimTimeout bounds one claim's round trip.
	claimTimeout = 5 * time.Second
)

// ScheduleConfig configures one Scheduler.
type ScheduleConfig struct {
	// Function names the function; its events come from "schedule/FUNCTION".
	Function string
	// Index is the trigger's place in the function's triggers, part of each event's ID.
	Index int
	// Trigger is the schedule; required.
	Trigger *manifest.ScheduleTrigger
	// Timeout bounds one run (invocation and effects); default 30s.
	Timeout time.Duration
	// Claims decide which node runs an instant; required.
	Claims Claims
	// NodeID names this node as the owner of its claims.
	NodeID string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ScheduleStats count what a scheduler did on this node, by outcome: runs that succeeded or
// failed, and ticks skipped because the previous run was still going.
type ScheduleStats struct {
	Success, Error, Skipped atomic.Int64
}

// Scheduler runs one schedule trigger of one function: at each instant of its expression it
// claims the instant (one node of the cluster wins), and, unless the previous run still
// goes, invokes the function with a schedule event (docs/manifest.md#schedule-trigger).
type Scheduler struct {
	cfg     ScheduleConfig
	fn      Invoker
	effects *Effects
	base    context.Context
	Stats   ScheduleStats
	attrs   [3]attribute.Set // by outcome, in the order of ScheduleStats
	log     *slog.Logger
	runs    sync.WaitGroup
}

// NewScheduler wires a scheduler; Run starts it.
func NewScheduler(cfg ScheduleConfig, f Invoker, effects *Effects) *Scheduler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Scheduler{cfg: cfg, fn: f, effects: effects, base: runtime.WithTrigger(context.Background(), runtime.TriggerSchedule),
		log: cfg.Logger.With("function", cfg.Function, "trigger", fmt.Sprintf("schedule[%d]", cfg.Index))}
	for i, outcome := range []string{"success", "error", "skipped"} {
		s.attrs[i] = attribute.NewSet(attribute.String("function", cfg.Function), attribute.String("outcome", outcome))
	}
	return s
}

// Run fires the instants until ctx ends, then waits for the runs that started.
func (s *Scheduler) Run(ctx context.Context) {
	defer s.runs.Wait()
	sched := s.cfg.Trigger.Schedule
	if sched == nil { // a trigger not made by manifest.Parse
		s.log.Error("schedule trigger without a parsed expression; it does not run")
		return
	}
	next := sched.Next(s.cfg.Now())
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !next.IsZero() {
		timer.Reset(next.Sub(s.cfg.Now()))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := s.cfg.Now()
		if now.Before(next) {
			continue // woken early: the clock was set back
		}
		if now.Sub(next) <= maxLate {
			s.tick(ctx, next)
		}
		if next = sched.Next(next); now.Sub(next) > maxLate {
			s.log.Warn("schedule ticks missed; they are not replayed", "from", next, "until", now)
			next = sched.Next(now)
		}
	}
}

// tick claims the instant at and starts its run, or skips it while the previous run goes.
func (s *Scheduler) tick(ctx context.Context, at time.Time) {
	cctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	key := s.key(strconv.FormatInt(at.Unix(), 10))
	owner := s.cfg.NodeID + "/" + strconv.FormatInt(at.Unix(), 10)
	won, err := s.cfg.Claims.Claim(cctx, key, owner, instantClaimTTL)
	if err != nil {
		s.log.Error("schedule tick not claimed; no node may run it", "instant", at, "error", err)
		return
	}
	if !won {
		return // another node runs it
	}
	release := func() {}
	if !s.cfg.Trigger.Overlap {
		running := s.key("running")
		// The lock outlives the longest run, so that a node that dies mid-run frees it.
		held, err := s.cfg.Claims.Claim(cctx, running, owner, s.cfg.Timeout+claimTimeout+30*time.Second)
		if err != nil {
			s.log.Error("schedule tick not run: the run lock failed", "instant", at, "error", err)
			return
		}
		if !held {
			s.Stats.Skipped.Add(1)
			s.log.Warn("schedule tick skipped: the previous run still goes", "instant", at)
			return
		}
		release = func() {
			rctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
			defer cancel()
			if err := s.cfg.Claims.Release(rctx, running, owner); err != nil {
				s.log.Warn("schedule run lock not released; it expires", "error", err)
			}
		}
	}
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		defer release()
		s.run(at)
	}()
}

// key is a claim key of this trigger, under the cluster's schedule keys.
func (s *Scheduler) key(suffix string) string {
	return "schedule:" + s.cfg.Function + ":" + strconv.Itoa(s.cfg.Index) + ":" + suffix
}

// run invokes the function for the instant at and carries out its effects. It does not stop
// when Run's context ends: a run that started finishes, within the timeout.
func (s *Scheduler) run(at time.Time) {
	ev := ScheduleEvent(s.cfg.Function, s.cfg.Index, at, s.cfg.Trigger.Data)
	ctx, span := telemetry.Start(s.base, trace.SpanKindConsumer, "process ", ev.Source)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.message.id", ev.ID), attribute.String("edgefn.function", s.cfg.Function))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res, err := s.fn.Invoke(ctx, ev)
	if err == nil {
		err = s.effects.Apply(ctx, s.cfg.Function, ev, res)
	}
	endSpan(span, err)
	if err != nil {
		s.Stats.Error.Add(1)
		s.log.Error("scheduled run failed", "id", ev.ID, "instant", at, "error", err)
		return
	}
	s.Stats.Success.Add(1)
}

// ScheduleEvent is the event of the instant at of the index-th trigger of function: its ID
// is derived from the three, so that a handler can tell a repeat (docs/events.md).
func ScheduleEvent(function string, index int, at time.Time, data []byte) *event.Event {
	ev := &event.Event{
		ID:   "schedule/" + function + "/" + strconv.Itoa(index) + "/" + strconv.FormatInt(at.Unix(), 10),
		Type: ScheduleEventType, Source: "schedule/" + function, Time: at.UTC(), Attempt: 1,
		Headers: map[string]string{},
	}
	if len(data) > 0 {
		ev.Data, ev.ContentType = data, "application/json"
	}
	return ev
}
