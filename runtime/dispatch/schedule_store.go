package dispatch

import (
	"context"
	"strconv"
	"time"
)

// ScheduleStore is what the nodes of a cluster share about schedules beyond Claims: which
// functions' schedules are paused, and the last instant each trigger fired
// (docs/cluster.md#schedules). The Redis store serves a cluster; MemoryClaims a node alone.
// Implementations are safe for concurrent use.
type ScheduleStore interface {
	Claims
	// Fire claims the instant of t for owner for ttl, unless t's function is paused or the
	// instant is claimed already, and records it as t's last fired instant (kept when a
	// later one is recorded; a paused instant counts, as it passed while a node ran), all in
	// one step.
	Fire(ctx context.Context, t Tick, owner string, ttl time.Duration) (Fired, error)
	// Last is the last instant a trigger fired anywhere in the cluster; zero when none did.
	Last(ctx context.Context, function string, index int) (time.Time, error)
	// SetPaused pauses or resumes the schedules of function.
	SetPaused(ctx context.Context, function string, paused bool) error
	// Paused reports whether the schedules of function are paused.
	Paused(ctx context.Context, function string) (bool, error)
}

// Tick is one instant of one schedule trigger.
type Tick struct {
	Function string
	Index    int
	At       time.Time
}

// Fired is what Fire did with a tick.
type Fired int

const (
	// FiredTaken: this owner claimed the instant and runs it.
	FiredTaken Fired = iota
	// FiredElsewhere: another owner claimed it first.
	FiredElsewhere
	// FiredPaused: the function's schedules are paused; nobody runs it.
	FiredPaused
)

// ScheduleKey is a key of the schedule state, relative to the cluster's prefix:
// schedule:FUNCTION:INDEX:SUFFIX, or schedule:FUNCTION:SUFFIX when index is negative
// (docs/cluster.md#schedules).
func ScheduleKey(function string, index int, suffix string) string {
	if index < 0 {
		return "schedule:" + function + ":" + suffix
	}
	return "schedule:" + function + ":" + strconv.Itoa(index) + ":" + suffix
}
