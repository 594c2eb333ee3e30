// Command clock shows a schedule trigger: at each tick it notifies the WebSocket topic
// news.clock with the tick's instant, and the browser demo in examples/web shows it. The
// instant is the event's Time, the same on every node of a cluster, so the text says which
// tick ran and how late, not when some node happened to wake up.
package main

import (
	"context"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	fn.Serve(fn.HandlerFunc(Handle))
}

// Topic is where the ticks go; the demo's topic rules (manifests/web.yaml) let anyone
// subscribe to news.*.
const Topic = "news.clock"

// Tick is the publication on Topic.
type Tick struct {
	Text string `json:"text"`
	// At is the tick's instant, RFC 3339.
	At string `json:"at"`
	// ID is the schedule event's ID, schedule/clock/INDEX/UNIX: a repeat of one tick (a
	// retry, a redrive) has the same.
	ID string `json:"id"`
}

// Handle notifies Topic of the tick ev; an event from anything but a schedule is refused.
func Handle(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	if ev.Type != "edgefn.schedule" {
		return nil, fn.Errorf(400, "clock runs on a schedule, not on %q", ev.Source)
	}
	at := ev.Time.UTC()
	if late := time.Since(at); late > time.Second {
		fn.Logger(ctx).Info("tick runs late", "id", ev.ID, "late", late.String())
	}
	return fn.Status(204).Notify(Topic, Tick{Text: "tick " + at.Format(time.TimeOnly) + " UTC", At: at.Format(time.RFC3339), ID: ev.ID}), nil
}
