package dispatch

import (
	"context"
	"strconv"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

// ScheduleStore is what the nodes of a cluster share about schedules beyond Claims: which
// functions' schedules are paused, and the last instant each trigger fired
// (docs/cluster.md#schedules). The Redis store serves a cluster; MemoryClaims a node alone.
// Implementations are safe for concurrent use.
type ScheduleStore interface {
	Claims
	// Fire fires ticks, all at once (one round trip to Redis): each tick's instant is claimed
	// for owner for ttl, unless the tick's function is paused or the instant is claimed
	// already, and recorded as the trigger's last fired instant (kept when a later one is
	// recorded; a paused instant counts, as it passed while a node ran). A tick with a
	// LockTTL also takes its trigger's run lock with the claim, or is FiredBusy while the
	// lock is held. Each tick is one atomic step; the result has one Fired per tick.
	Fire(ctx context.Context, owner string, ttl time.Duration, ticks ...Tick) ([]Fired, error)
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
	// LockTTL, when positive, takes the trigger's run lock (RunLockKey, owned by
	// RunLockOwner of At) with the instant, for that long: a trigger without overlap.
	LockTTL time.Duration
	// Stream and Run, set only for a store that AppendsRuns to the tick's streams: when the
	// tick is FiredTaken, Run has been appended to the run stream Stream in the same atomic
	// step as the claim.
	Stream string
	Run    *triggers.Message
}

// RunAppender is a ScheduleStore that appends the run of each tick it takes to the tick's
// run stream in the same atomic step as the claim (one round trip where there would be two,
// and no moment in which a node that dies loses an instant it claimed: docs/cluster.md#schedules).
type RunAppender interface {
	// AppendsRuns reports whether Fire appends the runs of ticks whose run streams are read
	// through streams.
	AppendsRuns(streams triggers.Streams) bool
}

// RunLockKey is the key of the run lock of a trigger, relative to the cluster's prefix.
func RunLockKey(function string, index int) string { return ScheduleKey(function, index, "running") }

// RunLockOwner is the owner of the run lock that the run of instant at holds: derived from
// the instant alone, so that whichever node finishes the run releases it.
func RunLockOwner(at time.Time) string { return "run/" + strconv.FormatInt(at.Unix(), 10) }

// Fired is what Fire did with a tick.
type Fired int

const (
	// FiredTaken: this owner claimed the instant and runs it.
	FiredTaken Fired = iota
	// FiredElsewhere: another owner claimed it first.
	FiredElsewhere
	// FiredPaused: the function's schedules are paused; nobody runs it.
	FiredPaused
	// FiredBusy: this owner claimed the instant, but the trigger's previous run still holds
	// the run lock: the tick is skipped.
	FiredBusy
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
