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
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

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
	// only, when not empty, limits the run to these metric groups: stream, queue, embedded.
	only []string
	// write is the README whose triggers section is replaced; empty writes nothing.
	write string
	// keep keeps the temporary folder (binaries, manifests, data dirs).
	keep bool
	// prebuilt, when set, is a folder with edgefn and noop already built.
	prebuilt string
	// quiet is the busy share of the machine's CPU under which a measurement may start, and
	// quietWait how long to wait for it before starting anyway.
	quiet     float64
	quietWait time.Duration
	// maxOther is the share of the machine other processes may use during a run before it is
	// measured again, up to attempts runs in all.
	maxOther float64
	attempts int
}

// groups are the values -only accepts.
var groups = []string{"stream", "queue", "embedded"}

func (o options) runs(group string) bool {
	return len(o.only) == 0 || slices.Contains(o.only, group)
}

func main() {
	var o options
	var only string
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every metric, the baseline and edgefn in turn")
	flag.IntVar(&o.streamMsgs, "stream-msgs", 50_000, "entries pre-filled into a Redis stream per run")
	flag.IntVar(&o.queueMsgs, "queue-msgs", 20_000, "persistent messages pre-published to a RabbitMQ queue per run")
	flag.IntVar(&o.embeddedMsgs, "embedded-msgs", 50_000, "messages emitted to an embedded queue or stream per run")
	flag.IntVar(&o.burst, "burst", 100, "messages one POST /burst emits (embedded runs)")
	flag.IntVar(&o.producers, "producers", 2, "concurrent POST /burst callers (embedded runs)")
	flag.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL")
	flag.StringVar(&o.amqpURL, "amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	flag.StringVar(&only, "only", "", "comma-separated metric groups to run: "+strings.Join(groups, ", ")+" (default all)")
	flag.StringVar(&o.write, "write", "", "README whose triggers section to rewrite (e.g. bench/README.md)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder")
	flag.StringVar(&o.prebuilt, "prebuilt", "", "folder with edgefn and noop already built (default: build them)")
	flag.Float64Var(&o.quiet, "quiet", 0.15, "start a measurement only once the machine's CPU is at most this busy (0 to 1)")
	flag.DurationVar(&o.quietWait, "quiet-wait", time.Minute, "longest wait for -quiet before measuring anyway")
	flag.Float64Var(&o.maxOther, "max-other", 0.25, "measure a run again when other processes used more than this share of the machine (0 to 1)")
	flag.IntVar(&o.attempts, "attempts", 3, "most runs of one measurement while others disturb it; the least disturbed is kept")
	flag.Parse()
	if only != "" {
		o.only = strings.Split(only, ",")
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "triggerbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "triggerbench:", err)
		os.Exit(1)
	}
}

func (o options) validate() error {
	var errs []error
	if o.rounds < 1 || o.streamMsgs < 1 || o.queueMsgs < 1 || o.embeddedMsgs < 1 || o.producers < 1 || o.attempts < 1 {
		errs = append(errs, errors.New("-rounds, -stream-msgs, -queue-msgs, -embedded-msgs, -producers and -attempts must be positive"))
	}
	if o.burst < 1 || o.burst > 10_000 {
		errs = append(errs, errors.New("-burst must be between 1 and 10000"))
	}
	for _, g := range o.only {
		if !slices.Contains(groups, g) {
			errs = append(errs, fmt.Errorf("-only: unknown group %q (want %s)", g, strings.Join(groups, ", ")))
		}
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, o options, stdout, progress io.Writer) error {
	tmp, err := os.MkdirTemp("", "triggerbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(progress, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bins, err := binaries(ctx, o, tmp, progress)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, o, bins, tmp, progress)
	if err != nil {
		return err
	}
	defer b.close()
	rep := report{opts: o, machine: describeMachine(ctx, b), started: time.Now().UTC()}
	for r := 1; r <= o.rounds; r++ {
		rd, err := b.round(ctx, r)
		if err != nil {
			return err
		}
		rep.rounds = append(rep.rounds, rd)
	}
	rep.waits = b.waits
	rep.finished = time.Now().UTC()
	rep.machine.loadAfter = harness.LoadAvg()
	text := rep.markdown()
	fmt.Fprint(stdout, text)
	if o.write != "" {
		if err := harness.RewriteSection(o.write, startMarker, endMarker, text); err != nil {
			return err
		}
		fmt.Fprintln(progress, "wrote the triggers section of", o.write)
	}
	return nil
}
