package dispatch

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

// Clock fires the instants of many schedulers from one goroutine and one timer: a heap of
// the schedulers by their next instant. At each wake-up it takes every scheduler that is due,
// fires their ticks in one call to the store (one Redis round trip with --redis) and
// publishes the runs it won, one batch per run stream. A thousand triggers on the same
// second cost one wake-up, one round trip to claim and one per function to publish, where a
// goroutine and a timer each would cost a thousand of each.
type Clock struct {
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	heap    clockHeap
	entries map[*Scheduler]*clockEntry
	changed chan struct{} // a scheduler was added: the earliest instant may be sooner

	// firing is held while a batch fires, so that Remove can wait for the batch in flight.
	firing   sync.Mutex
	catchUps sync.WaitGroup
}

type clockEntry struct {
	s      *Scheduler
	next   time.Time
	index  int // in the heap
	cancel context.CancelFunc
}

// NewClock returns a clock reading now (time.Now when nil); Run starts it.
func NewClock(now func() time.Time, log *slog.Logger) *Clock {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Clock{now: now, log: log, entries: map[*Scheduler]*clockEntry{}, changed: make(chan struct{}, 1)}
}

// Add starts firing s from its next instant after now, first catching up (when s's
// trigger asks) in a goroutine of its own; ctx bounds the catch-up.
func (c *Clock) Add(ctx context.Context, s *Scheduler) {
	if s.cfg.Trigger.Schedule == nil { // a trigger not made by manifest.Parse
		s.log.Error("schedule trigger without a parsed expression; it does not run")
		return
	}
	now := c.now()
	cctx, cancel := context.WithCancel(ctx)
	e := &clockEntry{s: s, next: s.cfg.Trigger.Schedule.Next(now), cancel: cancel, index: -1}
	c.mu.Lock()
	if old := c.entries[s]; old != nil {
		c.mu.Unlock()
		cancel()
		return
	}
	c.entries[s] = e
	if !e.next.IsZero() {
		heap.Push(&c.heap, e)
	}
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	if s.cfg.Trigger.CatchUp > 0 {
		c.catchUps.Go(func() { s.catchUp(cctx, now) })
	}
}

// Remove stops firing s; once it returns, no batch that includes s is in flight.
func (c *Clock) Remove(s *Scheduler) {
	c.mu.Lock()
	e := c.entries[s]
	if e != nil {
		delete(c.entries, s)
		if e.index >= 0 {
			heap.Remove(&c.heap, e.index)
		}
		e.cancel()
	}
	c.mu.Unlock()
	c.firing.Lock()
	c.firing.Unlock() //nolint:staticcheck // an empty critical section: waits for the batch in flight
}

// Run fires the schedulers' instants until ctx ends, then waits for the catch-ups.
func (c *Clock) Run(ctx context.Context) {
	defer c.catchUps.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		wait := time.Hour
		if len(c.heap) > 0 {
			wait = c.heap[0].next.Sub(c.now())
		}
		c.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-c.changed:
			continue
		case <-timer.C:
		}
		if due := c.due(); len(due) > 0 {
			c.firing.Lock()
			fireTicks(ctx, due)
			c.firing.Unlock()
		}
	}
}

// due takes the ticks that are due now off the heap, moving each scheduler on to its next
// instant. An instant more than maxLate past is not run (ticks that passed are not replayed).
func (c *Clock) due() []pendingTick {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []pendingTick
	for len(c.heap) > 0 && !c.heap[0].next.After(now) {
		e := c.heap[0]
		if now.Sub(e.next) <= maxLate {
			out = append(out, pendingTick{s: e.s, at: e.next})
		}
		sched := e.s.cfg.Trigger.Schedule
		if e.next = sched.Next(e.next); !e.next.IsZero() && now.Sub(e.next) > maxLate {
			e.s.log.Warn("schedule ticks missed; they are not replayed", "from", e.next, "until", now)
			e.next = sched.Next(now)
		}
		if e.next.IsZero() {
			heap.Pop(&c.heap)
		} else {
			heap.Fix(&c.heap, 0)
		}
	}
	return out
}

// pendingTick is an instant of a scheduler to fire.
type pendingTick struct {
	s  *Scheduler
	at time.Time
}

// fireTicks fires ticks through their store, one call per store (in practice one: the
// manager's), and publishes the runs won, one batch per run stream, unless the store
// appended them with the claims (a RunAppender).
func fireTicks(ctx context.Context, ticks []pendingTick) {
	type streamKey struct {
		streams triggers.Streams
		name    string
	}
	cctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	byStore := map[ScheduleStore][]pendingTick{}
	for _, t := range ticks {
		byStore[t.s.cfg.Store] = append(byStore[t.s.cfg.Store], t)
	}
	runs := map[streamKey][]pendingTick{}
	for store, ts := range byStore {
		appender, _ := store.(RunAppender)
		batch := make([]Tick, len(ts))
		appended := make([]bool, len(ts))
		for i, t := range ts {
			batch[i] = Tick{Function: t.s.cfg.Function, Index: t.s.cfg.Index, At: t.at}
			if !t.s.cfg.Trigger.Overlap {
				batch[i].LockTTL = runLockTTL(t.s.cfg.Trigger, t.s.cfg.Timeout)
			}
			if appender != nil && appender.AppendsRuns(t.s.cfg.Streams) {
				batch[i].Stream, batch[i].Run = t.s.cfg.Runs, t.run()
				appended[i] = true
			}
		}
		fired, err := store.Fire(cctx, ts[0].s.cfg.NodeID, instantClaimTTL, batch...)
		if err != nil {
			for _, t := range ts {
				t.s.log.Error("schedule tick not claimed; no node may run it", "instant", t.at, "error", err)
			}
			continue
		}
		for i, t := range ts {
			switch fired[i] {
			case FiredTaken:
				if !appended[i] {
					k := streamKey{t.s.cfg.Streams, t.s.cfg.Runs}
					runs[k] = append(runs[k], t)
				}
			case FiredBusy:
				t.s.Stats.Skipped.Add(1)
				t.s.log.Warn("schedule tick skipped: the previous run still goes", "instant", t.at)
			case FiredPaused:
				t.s.log.Debug("schedule tick not run: paused", "instant", t.at)
			}
		}
	}
	// The run streams are published to at once: each is a round trip of its own.
	var wg sync.WaitGroup
	for k, ts := range runs {
		wg.Go(func() { publishRuns(cctx, k.streams, k.name, ts) })
	}
	wg.Wait()
}

// run is the run stream's entry of t's instant.
func (t pendingTick) run() *triggers.Message {
	return scheduleMessage(ScheduleEvent(t.s.cfg.Function, t.s.cfg.Index, t.at, t.s.cfg.Trigger.Data))
}

// publishRuns appends the runs of ticks to the run stream name; when that fails, their
// instants are lost: they are counted as errors and their run locks released.
func publishRuns(ctx context.Context, streams triggers.Streams, name string, ticks []pendingTick) {
	msgs := make([]*triggers.Message, len(ticks))
	for i, t := range ticks {
		msgs[i] = t.run()
	}
	err := streams.PublishStream(ctx, name, msgs...)
	if err == nil {
		return
	}
	for _, t := range ticks {
		t.s.Stats.Error.Add(1)
		t.s.log.Error("schedule run not started: its publication failed", "instant", t.at, "error", err)
		if !t.s.cfg.Trigger.Overlap {
			runLock{function: t.s.cfg.Function, index: t.s.cfg.Index, at: t.at}.release(t.s.cfg.Store, t.s.log)
		}
	}
}

// clockHeap orders entries by their next instant.
type clockHeap []*clockEntry

func (h clockHeap) Len() int           { return len(h) }
func (h clockHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h clockHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *clockHeap) Push(x any) {
	e := x.(*clockEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *clockHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
