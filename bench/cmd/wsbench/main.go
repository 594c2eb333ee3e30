// Command wsbench measures edgefn's WebSocket endpoint (GET /ws) against a hand-written
// Fiber WebSocket server speaking the same protocol (../../rawws), in one run on one machine:
//
//   - memory: the server's resident memory (VmRSS) per connection once -conns clients
//     (10,000) are connected, subscribed to one topic and idle, and whether every dial and
//     subscribe succeeded;
//   - fan-out: with those clients, the time from the start of a publication (POST
//     /admin/v1/publish) to the moment the last subscriber received it, over -pubs (50)
//     publications sent one after the other;
//   - deliveries: -subs (1,000) clients on -topics (100) topics, -publishers (4) HTTP
//     publishers publishing as fast as they can for -duration (5s), round-robin over their
//     topics; deliveries per second, and every client must receive every publication of its
//     topic once and in order.
//
// The clients live in this process (read by a few epoll pollers, poll_linux.go), the server
// in its own, started for each measurement on a fresh port (and for edgefn a fresh data
// folder) with a `kind: topics` manifest that allows bench.* to anyone. Each round measures both servers, the baseline
// first in odd rounds and edgefn first in even ones, never both at once. It reports the median
// over the rounds with the lowest and highest round as markdown, and with -write FILE replaces
// the part of FILE between <!-- ws-results:start --> and <!-- ws-results:end --> (appended
// when missing) with that report.
//
// Usage, from the repository:
//
//	go run ./bench/cmd/wsbench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes wsbench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "wsbench", Section: "ws-results", Attempts: 3,
	Programs: []harness.Program{harness.Edgefn, {Name: "rawws", Package: "./bench/rawws"}}}

// options are wsbench's flags.
type options struct {
	// rounds is how many times each metric is measured on each server.
	rounds int
	// conns is the number of idle subscribers of the memory and fan-out measurement, and pubs
	// the publications timed, after warmup ones that are not.
	conns, pubs, warmup int
	// settle is how long the connected clients stay idle before the server's memory is read.
	settle time.Duration
	// subs clients subscribe to topics topics (subs/topics each); publishers publish for
	// duration in the deliveries measurement.
	subs, topics, publishers int
	duration                 time.Duration
	// dialers is how many clients dial at once, and dialAttempts how often one dial is tried.
	dialers, dialAttempts int
	// topicHistory is edgefn's --topic-history; 0 leaves its default.
	topicHistory int
	// only, when it names some, limits the run to these metric groups: fanout, deliveries.
	only harness.Only
	// Options are the flags every benchmark command has. MaxOther applies to the fan-out and
	// deliveries runs.
	harness.Options
}

func main() {
	o := options{only: harness.Only{Groups: []string{"fanout", "deliveries"}}}
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every metric on the baseline and on edgefn in turn")
	flag.IntVar(&o.conns, "conns", 10_000, "idle subscribers of one topic (memory and fan-out)")
	flag.IntVar(&o.pubs, "pubs", 50, "fan-out publications timed")
	flag.IntVar(&o.warmup, "warmup", 1, "fan-out publications sent first and not timed")
	flag.DurationVar(&o.settle, "settle", 2*time.Second, "how long the clients stay idle before the server's memory is read")
	flag.IntVar(&o.subs, "subs", 1000, "subscribers of the deliveries measurement")
	flag.IntVar(&o.topics, "topics", 100, "topics of the deliveries measurement (-subs spread evenly)")
	flag.IntVar(&o.publishers, "publishers", 4, "concurrent HTTP publishers of the deliveries measurement")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long the publishers publish")
	flag.IntVar(&o.dialers, "dialers", 200, "clients dialling at once")
	flag.IntVar(&o.dialAttempts, "dial-attempts", 3, "tries of one dial before it counts as failed")
	flag.IntVar(&o.topicHistory, "topic-history", 0, "edgefn's --topic-history (0: its default)")
	o.only.Flag(flag.CommandLine)
	cmd.Main(&o.Options, o.validate, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

func (o *options) validate() error {
	var errs []error
	if o.rounds < 1 || o.conns < 1 || o.pubs < 1 || o.warmup < 0 || o.subs < 1 || o.topics < 1 || o.publishers < 1 ||
		o.dialers < 1 || o.dialAttempts < 1 || o.topicHistory < 0 {
		errs = append(errs, errors.New("-rounds, -conns, -pubs, -subs, -topics, -publishers, -dialers and -dial-attempts must be positive; -warmup and -topic-history not negative"))
	}
	if o.duration <= 0 || o.settle < 0 {
		errs = append(errs, errors.New("-duration must be positive and -settle not negative"))
	}
	if o.subs%o.topics != 0 {
		errs = append(errs, fmt.Errorf("-subs %d must be a multiple of -topics %d", o.subs, o.topics))
	}
	if o.publishers > o.topics {
		errs = append(errs, errors.New("-publishers must not exceed -topics: each topic has one publisher, which keeps its order"))
	}
	errs = append(errs, o.only.Check())
	return errors.Join(errs...)
}

func run(ctx context.Context, o options, r *harness.Run) error {
	if err := raiseFileLimit(max(o.conns, o.subs) + 256); err != nil {
		return err
	}
	b := &bench{opts: o, run: r, edgefn: r.Bins[0], rawws: r.Bins[1]}
	rep := report{opts: o, run: r}
	var err error
	if rep.rounds, err = harness.Rounds(ctx, o.rounds, b.round); err != nil {
		return err
	}
	return r.Publish(rep.markdown)
}
