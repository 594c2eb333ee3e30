package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
)

// ErrNoSchedule is returned for a function that is not deployed with a schedule trigger.
var ErrNoSchedule = errors.New("no schedule trigger")

// runsKey identifies the run consumer of m's schedules by what shapes it (each trigger's
// retries, backoff and overlap, the timeout, the concurrency); "" when m has no schedule.
func runsKey(m *manifest.Function) string {
	var b strings.Builder
	for i, t := range m.Triggers {
		if s := t.Schedule; s != nil {
			fmt.Fprintf(&b, "|%d:%d:%s:%t", i, s.Retries, s.Backoff, s.Overlap)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return fmt.Sprintf("%s|schedule-runs|%s|%d%s", m.Name, m.Timeout, m.Concurrency, b.String())
}

// scheduleStats returns the schedule counters of function, made on first use.
func (m *Manager) scheduleStats(function string) *ScheduleStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.schedStats[function]
	if s == nil {
		s = NewScheduleStats(function)
		m.schedStats[function] = s
	}
	return s
}

// startRuns opens the consumer of a function's run stream: it invokes each run, retrying
// and dead-lettering as the run's trigger asks; a run a dead node held is claimed by another
// node's consumer once it has been pending for the timeout and a margin.
func (m *Manager) startRuns(ctx context.Context, b binding) error {
	octx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	runs, dead := ScheduleStreams(m.cfg.KeyPrefix, b.m.Name)
	src, err := m.cfg.Streams.ConsumeStream(octx, triggers.StreamOptions{
		Stream: runs, Group: ScheduleRunGroup, FromOldest: true, DeadLetter: dead,
		Consumer:   fmt.Sprintf("%s/%s/%d", m.cfg.NodeID, b.m.Name, m.seq.Add(1)),
		ClaimAfter: b.m.Timeout + 5*time.Second,
	})
	if err != nil {
		return err
	}
	sr := &scheduleRuns{function: b.m.Name, triggers: map[int]*manifest.ScheduleTrigger{}, claims: m.cfg.Claims,
		stats: m.scheduleStats(b.m.Name), now: time.Now, log: m.cfg.Logger.With("function", b.m.Name)}
	sr.locks = newLockReleaser(m.cfg.Claims, sr.log)
	for i, t := range b.m.Triggers {
		if t.Schedule != nil {
			sr.triggers[i] = t.Schedule
		}
	}
	m.run(b, NewConsumer(ConsumerConfig{Function: b.m.Name, EventSource: "schedule/" + b.m.Name, Timeout: b.m.Timeout,
		Concurrency: min(max(b.m.Concurrency, 1), 64), Logger: m.cfg.Logger, schedule: sr}, src, b.fn, m.cfg.Effects))
	return nil
}

// ScheduleInfo is one schedule trigger of a function as `edgefn list` and `get` show it.
type ScheduleInfo struct {
	// Index is the trigger's place in the function's triggers.
	Index    int    `json:"index"`
	Cron     string `json:"cron"`
	Timezone string `json:"timezone"`
	// Next is the next instant; zero when there is none or the schedule is not running on
	// this node yet.
	Next   time.Time `json:"next,omitzero"`
	Paused bool      `json:"paused"`
}

// Schedules describes the schedule triggers of f: each one's next instant and whether
// they are paused (across the cluster); none when f has no schedule trigger.
func (m *Manager) Schedules(ctx context.Context, f *manifest.Function) ([]ScheduleInfo, error) {
	var out []ScheduleInfo
	for i, t := range f.Triggers {
		if t.Schedule != nil {
			out = append(out, ScheduleInfo{Index: i, Cron: t.Schedule.Cron, Timezone: t.Schedule.Timezone})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	m.mu.Lock()
	next := map[int]time.Time{}
	for _, r := range m.running {
		if s := r.schedule; s != nil && s.cfg.Function == f.Name && s.cfg.Index < len(f.Triggers) &&
			f.Triggers[s.cfg.Index].Schedule != nil && s.cfg.Trigger.Cron == f.Triggers[s.cfg.Index].Schedule.Cron {
			next[s.cfg.Index] = s.Next()
		}
	}
	m.mu.Unlock()
	paused, err := m.cfg.Claims.Paused(ctx, f.Name)
	for i := range out {
		out[i].Next, out[i].Paused = next[out[i].Index], paused
	}
	return out, err
}

// PauseSchedules pauses (or resumes) the schedule triggers of f on every node of the
// cluster: their ticks are not run until resumed. Runs already started go on.
func (m *Manager) PauseSchedules(ctx context.Context, f *manifest.Function, paused bool) error {
	if !hasSchedule(f) {
		return fmt.Errorf("function %q: %w", f.Name, ErrNoSchedule)
	}
	return m.cfg.Claims.SetPaused(ctx, f.Name, paused)
}

// RunSchedules starts one run of each schedule trigger of f now, paused or not, with the
// trigger's data, and returns the runs' event IDs. The runs take no run lock: they may
// overlap a tick's run.
func (m *Manager) RunSchedules(ctx context.Context, f *manifest.Function) ([]string, error) {
	if !hasSchedule(f) {
		return nil, fmt.Errorf("function %q: %w", f.Name, ErrNoSchedule)
	}
	runs, _ := ScheduleStreams(m.cfg.KeyPrefix, f.Name)
	now := time.Now()
	var msgs []*triggers.Message
	var ids []string
	for i, t := range f.Triggers {
		if t.Schedule != nil {
			ev := AskedRun(f.Name, i, now, t.Schedule.Data)
			msgs, ids = append(msgs, scheduleMessage(ev)), append(ids, ev.ID)
		}
	}
	if err := m.cfg.Streams.PublishStream(ctx, runs, msgs...); err != nil {
		return nil, err
	}
	return ids, nil
}

// ScheduleDeadLetters returns the stream that holds the dead-lettered runs of f's
// schedules and the stream a redrive sends them back to, to run again.
func (m *Manager) ScheduleDeadLetters(f *manifest.Function) (dead, runs string, err error) {
	if !hasSchedule(f) {
		return "", "", fmt.Errorf("function %q: %w", f.Name, ErrNoSchedule)
	}
	runs, dead = ScheduleStreams(m.cfg.KeyPrefix, f.Name)
	return dead, runs, nil
}

func hasSchedule(f *manifest.Function) bool {
	for _, t := range f.Triggers {
		if t.Schedule != nil {
			return true
		}
	}
	return false
}

// sortedStats returns the schedule counters by function name.
func (m *Manager) sortedStats() []*ScheduleStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.schedStats))
	for n := range m.schedStats {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*ScheduleStats, len(names))
	for i, n := range names {
		out[i] = m.schedStats[n]
	}
	return out
}
