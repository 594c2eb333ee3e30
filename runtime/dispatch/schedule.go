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

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
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
	// paused, its clock jumped) does not run it. Ticks that passed are not replayed, unless
	// the trigger's catchUp asks when it starts.
	maxLate = time.Minute
	// instantClaimTTL keeps an instant claimed past the moment any node, however late within
	// maxLate and skewed by a few seconds, could still try it.
	instantClaimTTL = 2*maxLate + 30*time.Second
	// claimTimeout bounds one claim's round trip.
	claimTimeout = 5 * time.Second
	// catchUpHorizon bounds how far back a catch-up looks for the instants of a cron
	// expression (an @every one jumps to its last instants directly).
	catchUpHorizon = 400 * 24 * time.Hour
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
	// Store decides which node runs an instant, and keeps pauses and last instants; required.
	Store ScheduleStore
	// Streams carries the runs to the function's run consumer (ScheduleRuns); required.
	Streams triggers.Streams
	// Runs is the stream of the function's runs (ScheduleStreams).
	Runs string
	// Stats are the function's schedule counters, shared by its triggers; nil: its own.
	Stats *ScheduleStats
	// NodeID names this node as the owner of its claims.
	NodeID string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ScheduleStats count what the schedules of one function did on this node, by outcome:
// runs (attempts) that succeeded or failed, and ticks skipped because the previous run was
// still going; and how late the last run started.
type ScheduleStats struct {
	Success, Error, Skipped atomic.Int64
	// Lag is how late the last run that started on this node started after its instant,
	// in nanoseconds; -1 before the first.
	Lag   atomic.Int64
	attrs [3]attribute.Set // by outcome, in the order of the counters
	fn    attribute.Set
}

// NewScheduleStats returns the zero counters of function.
func NewScheduleStats(function string) *ScheduleStats {
	s := &ScheduleStats{fn: attribute.NewSet(attribute.String("function", function))}
	s.Lag.Store(-1)
	for i, outcome := range []string{"success", "error", "skipped"} {
		s.attrs[i] = attribute.NewSet(attribute.String("function", function), attribute.String("outcome", outcome))
	}
	return s
}

// Scheduler is one schedule trigger of one function on a Clock: at each instant of its
// expression the clock fires the instant through the store (one node of the cluster wins,
// none while the function is paused), with the run lock unless overlap is on, and publishes
// the run to the function's run stream, where the function's run consumer invokes it with
// retries and dead letters (docs/manifest.md#schedule-trigger).
type Scheduler struct {
	cfg   ScheduleConfig
	Stats *ScheduleStats
	log   *slog.Logger
}

// NewScheduler wires a scheduler; Run starts it.
func NewScheduler(cfg ScheduleConfig) *Scheduler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Stats == nil {
		cfg.Stats = NewScheduleStats(cfg.Function)
	}
	return &Scheduler{cfg: cfg, Stats: cfg.Stats,
		log: cfg.Logger.With("function", cfg.Function, "trigger", fmt.Sprintf("schedule[%d]", cfg.Index))}
}

// Run fires the trigger's instants on a clock of its own until ctx ends, first catching up
// when the trigger asks. The manager runs its schedulers on one shared Clock instead.
func (s *Scheduler) Run(ctx context.Context) {
	c := NewClock(s.cfg.Now, s.cfg.Logger)
	c.Add(ctx, s)
	c.Run(ctx)
}

// Next is the trigger's next instant after now; zero when there is none.
func (s *Scheduler) Next() time.Time {
	if s.cfg.Trigger.Schedule == nil {
		return time.Time{}
	}
	return s.cfg.Trigger.Schedule.Next(s.cfg.Now())
}

// catchUp fires the last CatchUp instants in (last fired, now]: those that passed while no
// node ran the trigger. Each is fired like a tick, so that nodes starting together run each
// once, and the last fired instant moves on, so that a node starting later replays nothing.
func (s *Scheduler) catchUp(ctx context.Context, now time.Time) {
	n := s.cfg.Trigger.CatchUp
	if n <= 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, claimTimeout)
	last, err := s.cfg.Store.Last(cctx, s.cfg.Function, s.cfg.Index)
	cancel()
	if err != nil {
		s.log.Error("schedule catch-up skipped: the last instant is unknown", "error", err)
		return
	}
	missed := MissedInstants(s.cfg.Trigger, last, now, n)
	if len(missed) > 0 {
		s.log.Info("schedule catching up", "instants", len(missed), "since", last)
	}
	ticks := make([]pendingTick, len(missed))
	for i, at := range missed {
		ticks[i] = pendingTick{s: s, at: at}
	}
	fireTicks(ctx, ticks)
}

// MissedInstants returns the last n instants of t in (last, now], oldest first; none when
// last is zero (the trigger never fired: nothing was missed).
func MissedInstants(t *manifest.ScheduleTrigger, last, now time.Time, n int) []time.Time {
	if last.IsZero() || n <= 0 || t.Schedule == nil {
		return nil
	}
	from := last
	if every := t.Schedule.Every(); every > 0 {
		from = maxTime(from, now.Add(-time.Duration(n+1)*every))
	} else {
		from = maxTime(from, now.Add(-catchUpHorizon))
	}
	ring := make([]time.Time, 0, n)
	for at := t.Schedule.Next(from); !at.IsZero() && !at.After(now); at = t.Schedule.Next(at) {
		if len(ring) == n {
			ring = append(ring[:0], ring[1:]...)
		}
		ring = append(ring, at)
	}
	return ring
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// tick fires the instant at and publishes its run, or skips it while the previous run goes.
func (s *Scheduler) tick(ctx context.Context, at time.Time) {
	fireTicks(ctx, []pendingTick{{s: s, at: at}})
}

// runLock is the lock a run of a trigger without overlap holds from its tick until it
// succeeds or is dead-lettered. Its owner derives from the instant alone, so that whichever
// node finishes the run (another one, after this one died) releases it.
type runLock struct {
	function string
	index    int
	at       time.Time
}

func (l runLock) key() string   { return RunLockKey(l.function, l.index) }
func (l runLock) owner() string { return RunLockOwner(l.at) }

func (l runLock) release(c Claims, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	if err := c.Release(ctx, l.key(), l.owner()); err != nil {
		log.Warn("schedule run lock not released; it expires", "error", err)
	}
}

// ReleaserAll is Claims that give up many keys in one round trip: each key whose owner (at
// the same place in owners) still holds it.
type ReleaserAll interface {
	ReleaseAll(ctx context.Context, keys, owners []string) error
}

// lockReleaser releases the run locks of finished runs in batches: one round trip to the
// store releases every lock whose run finished while the previous one was in flight, where a
// round trip per run would put a thousand of them on the node's CPU and its connections at
// the moment the runs of the next triggers of the same instant start.
type lockReleaser struct {
	claims Claims
	log    *slog.Logger
	in     chan runLock
	once   sync.Once
}

func newLockReleaser(c Claims, log *slog.Logger) *lockReleaser {
	return &lockReleaser{claims: c, log: log, in: make(chan runLock, 1024)}
}

// release queues l's release.
func (r *lockReleaser) release(l runLock) { r.in <- l }

// close ends run once the queued releases are done.
func (r *lockReleaser) close() { r.once.Do(func() { close(r.in) }) }

func (r *lockReleaser) run() {
	all, _ := r.claims.(ReleaserAll)
	keys, owners := make([]string, 0, 256), make([]string, 0, 256)
	for l := range r.in {
		if all == nil {
			l.release(r.claims, r.log)
			continue
		}
		keys, owners = append(keys[:0], l.key()), append(owners[:0], l.owner())
	more:
		for len(keys) < cap(keys) {
			select {
			case l, ok := <-r.in:
				if !ok {
					break more
				}
				keys, owners = append(keys, l.key()), append(owners, l.owner())
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
		if err := all.ReleaseAll(ctx, keys, owners); err != nil {
			r.log.Warn("schedule run locks not released; they expire", "count", len(keys), "error", err)
		}
		cancel()
	}
}

// runLockTTL outlasts a run's every attempt and backoff, so that the lock of a run whose
// nodes all died frees itself.
func runLockTTL(t *manifest.ScheduleTrigger, timeout time.Duration) time.Duration {
	total := time.Duration(t.Retries+1) * (timeout + claimTimeout)
	d := t.Backoff
	for range t.Retries {
		total += d + d/5 // the jitter's most
		d = min(2*d, MaxBackoff)
	}
	return total + 30*time.Second
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

// scheduleMessage is the run stream's entry for ev.
func scheduleMessage(ev *event.Event) *triggers.Message {
	return &triggers.Message{ID: ev.ID, Type: ev.Type, Source: ev.Source, Time: ev.Time, ContentType: ev.ContentType, Data: ev.Data}
}
