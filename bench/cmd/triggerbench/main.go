// Command triggerbench measures how fast edgefn's queue and stream triggers feed a function
// that does nothing (./noop), against a bare consumer of the same broker doing the same
// acknowledgements, in one run on one machine:
//
//   - stream trigger on Redis: N pre-filled entries consumed and acknowledged by a fresh
//     consumer group, edgefn against a go-redis loop of XREADGROUP COUNT 64 and XACK;
//   - queue trigger on RabbitMQ: N pre-published persistent messages consumed with prefetch 64,
//     edgefn against an amqp091 consumer that acknowledges each message;
//   - the embedded backends (no broker): N messages emitted by a function called over HTTP
//     (noop's POST /burst) and consumed by noop, from the embedded queue and stream.
//
// It builds edgefn and the noop plugin into a temporary folder, starts a fresh `edgefn serve`
// for every edgefn measurement (so nothing is shared between runs but the brokers) and runs
// the baseline inside this process. Each round measures every metric once, the baseline and
// edgefn one after the other (which goes first alternates), never two at once. It reports the
// median over the rounds with the lowest and highest round as a markdown table, and with
// -write FILE replaces the part of FILE between <!-- triggers:start --> and
// <!-- triggers:end --> (appended when missing) with that report.
//
// Usage, from the repository, with Redis and RabbitMQ on their default local ports:
//
//	go run ./bench/cmd/triggerbench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes triggerbench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "triggerbench", Section: "triggers", Attempts: 3,
	Programs: []harness.Program{harness.Edgefn, {Name: "noop", Package: "./bench/cmd/triggerbench/noop"}}}

// options are triggerbench's flags.
type options struct {
	// rounds is how many times each metric is measured.
	rounds int
	// streamMsgs, queueMsgs and embeddedMsgs are the messages one run consumes.
	streamMsgs, queueMsgs, embeddedMsgs int
	// burst is how many messages one call of noop's POST /burst emits, and producers how many
	// callers call it at once.
	burst, producers int
	// redisURL and amqpURL locate the brokers.
	redisURL, amqpURL string
	// only, when it names some, limits the run to these metric groups: stream, queue, embedded.
	only harness.Only
	// Options are the flags every benchmark command has.
	harness.Options
}

func main() {
	o := options{only: harness.Only{Groups: []string{"stream", "queue", "embedded"}}}
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every metric, the baseline and edgefn in turn")
	flag.IntVar(&o.streamMsgs, "stream-msgs", 50_000, "entries pre-filled into a Redis stream per run")
	flag.IntVar(&o.queueMsgs, "queue-msgs", 20_000, "persistent messages pre-published to a RabbitMQ queue per run")
	flag.IntVar(&o.embeddedMsgs, "embedded-msgs", 50_000, "messages emitted to an embedded queue or stream per run")
	flag.IntVar(&o.burst, "burst", 100, "messages one POST /burst emits (embedded runs)")
	flag.IntVar(&o.producers, "producers", 2, "concurrent POST /burst callers (embedded runs)")
	flag.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL")
	flag.StringVar(&o.amqpURL, "amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	o.only.Flag(flag.CommandLine)
	cmd.Main(&o.Options, o.validate, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

func (o *options) validate() error {
	var errs []error
	if o.rounds < 1 || o.streamMsgs < 1 || o.queueMsgs < 1 || o.embeddedMsgs < 1 || o.producers < 1 {
		errs = append(errs, errors.New("-rounds, -stream-msgs, -queue-msgs, -embedded-msgs and -producers must be positive"))
	}
	if o.burst < 1 || o.burst > 10_000 {
		errs = append(errs, errors.New("-burst must be between 1 and 10000"))
	}
	errs = append(errs, o.only.Check())
	return errors.Join(errs...)
}

func run(ctx context.Context, o options, r *harness.Run) error {
	b, err := newBench(ctx, o, r)
	if err != nil {
		return err
	}
	defer b.close()
	rep := report{opts: o, run: r, brokers: b.versions(ctx)}
	if rep.rounds, err = harness.Rounds(ctx, o.rounds, b.round); err != nil {
		return err
	}
	return r.Publish(rep.markdown)
}
