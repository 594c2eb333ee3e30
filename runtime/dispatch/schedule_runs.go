package dispatch

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
)

// ScheduleStreams are the streams of a function's schedule runs under prefix (the cluster's
// key prefix): PREFIX schedule:FUNCTION:runs carries the runs its ticks start, and
// PREFIX schedule:FUNCTION:dead the runs that failed for good (docs/cluster.md#schedules).
func ScheduleStreams(prefix, function string) (runs, dead string) {
	base := prefix + ScheduleKey(function, -1, "")
	return base + "runs", base + "dead"
}

// ScheduleRunGroup is the consumer group of every run stream.
const ScheduleRunGroup = "edgefn-schedule"

// scheduleRuns is what the run consumer of a function's schedules knows of them: each
// trigger's retries and backoff, its run lock, and the function's counters. The consumer
// consults it for every delivery (Consumer.cfg.schedule).
type scheduleRuns struct {
	function string
	triggers map[int]*manifest.ScheduleTrigger // by index
	claims   Claims
	// locks, when set (and running: Consumer.Run runs it), releases the run locks in
	// batches; nil: each on its own.
	locks *lockReleaser
	stats *ScheduleStats
	now   func() time.Time
	log   *slog.Logger
}

// parseRunID splits a run's event ID, schedule/FUNCTION/INDEX/REST, where REST is the
// instant's Unix seconds, or run-ID for a run asked for (edgefn schedule run).
func parseRunID(evID string) (index int, rest string, ok bool) {
	parts := strings.SplitN(evID, "/", 4)
	if len(parts) != 4 || parts[0] != "schedule" {
		return 0, "", false
	}
	index, err := strconv.Atoi(parts[2])
	return index, parts[3], err == nil
}

// trigger is the trigger a delivery runs for; nil when it is gone (a redeploy dropped it).
func (r *scheduleRuns) trigger(d *triggers.Delivery) (*manifest.ScheduleTrigger, int, string) {
	index, rest, ok := parseRunID(d.ID)
	if !ok {
		return nil, 0, ""
	}
	return r.triggers[index], index, rest
}

// policy is the retries and backoff of d's trigger; the defaults when it is gone.
func (r *scheduleRuns) policy(d *triggers.Delivery) (int, time.Duration) {
	if t, _, _ := r.trigger(d); t != nil {
		return t.Retries, t.Backoff
	}
	return manifest.DefaultRetries, manifest.DefaultBackoff
}

// started notes how late the first attempt of a tick's run started.
func (r *scheduleRuns) started(d *triggers.Delivery) {
	if _, _, rest := r.trigger(d); d.Attempt == 1 && !strings.HasPrefix(rest, "run-") {
		r.stats.Lag.Store(int64(max(0, r.now().Sub(d.Time))))
	}
}

// finished counts an attempt of d and, when it was the run's last (it succeeded or was
// dead-lettered), releases the trigger's run lock.
func (r *scheduleRuns) finished(d *triggers.Delivery, failed, last bool) {
	if failed {
		r.stats.Error.Add(1)
	} else {
		r.stats.Success.Add(1)
	}
	t, index, rest := r.trigger(d)
	if !last || t == nil || t.Overlap {
		return
	}
	unix, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return // a run asked for takes no lock
	}
	l := runLock{function: r.function, index: index, at: time.Unix(unix, 0)}
	if r.locks != nil {
		r.locks.release(l)
		return
	}
	l.release(r.claims, r.log)
}

// AskedRun is the event of a run of the index-th schedule trigger of function asked for at
// at (edgefn schedule run): its ID ends in run-ID instead of an instant (docs/events.md).
func AskedRun(function string, index int, at time.Time, data []byte) *event.Event {
	ev := ScheduleEvent(function, index, at, data)
	ev.ID = "schedule/" + function + "/" + strconv.Itoa(index) + "/run-" + id.New()
	return ev
}
