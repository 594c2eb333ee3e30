package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// bench runs the measurements. It holds the broker clients that fill the queues and streams
// and that the baseline consumers use; each edgefn run starts its own gateway.
type bench struct {
	opts options
	bins bins
	tmp  string
	log  io.Writer

	// redis and rabbit are the brokers, connected when a selected metric needs them.
	redis  *redisSide
	rabbit *rabbitSide

	// prefix and seq make the queue and stream names of this run unique.
	prefix string
	seq    int
	// waits records the wait for a quiet machine before each measurement.
	waits []harness.QuietWait
}

// newBench connects to the brokers the selected metrics need.
func newBench(ctx context.Context, o options, bs bins, tmp string, log io.Writer) (*bench, error) {
	b := &bench{opts: o, bins: bs, tmp: tmp, log: log, prefix: fmt.Sprintf("%x", time.Now().Unix())}
	var err error
	if o.only.Runs("stream") {
		if b.redis, err = dialRedis(ctx, o.redisURL); err != nil {
			return nil, err
		}
	}
	if o.only.Runs("queue") {
		if b.rabbit, err = dialRabbit(o.amqpURL); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

func (b *bench) close() {
	if b.redis != nil {
		b.redis.close()
	}
	if b.rabbit != nil {
		b.rabbit.close()
	}
}

// name returns a queue or stream name no earlier run used.
func (b *bench) name(kind string) string {
	b.seq++
	return fmt.Sprintf("bench-%s-%s-%d", kind, b.prefix, b.seq)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, format+"\n", args...)
}

// round measures every selected metric once. The baseline goes first in odd rounds and
// edgefn in even ones, so that a drift of the machine's speed does not always favour one.
func (b *bench) round(ctx context.Context, n int) (round, error) {
	var rd round
	var err error
	if b.opts.only.Runs("stream") {
		if rd.stream, err = b.pair(ctx, n, "stream", b.streamRaw, b.streamEdgefn); err != nil {
			return rd, err
		}
	}
	if b.opts.only.Runs("queue") {
		if rd.queue, err = b.pair(ctx, n, "queue", b.queueRaw, b.queueEdgefn); err != nil {
			return rd, err
		}
	}
	if b.opts.only.Runs("embedded") {
		if rd.memQueue, err = b.measure(ctx, n, "embedded queue", func(ctx context.Context) (result, error) {
			return b.embedded(ctx, "queue")
		}); err != nil {
			return rd, err
		}
		if rd.memStream, err = b.measure(ctx, n, "embedded stream", func(ctx context.Context) (result, error) {
			return b.embedded(ctx, "stream")
		}); err != nil {
			return rd, err
		}
	}
	return rd, nil
}

// pair measures the baseline and edgefn one after the other.
func (b *bench) pair(ctx context.Context, n int, what string, raw, edge func(context.Context) (result, error)) (pair, error) {
	var p pair
	var err error
	order := []string{"raw", "edgefn"}
	if n%2 == 0 {
		slices.Reverse(order)
	}
	for _, who := range order {
		if who == "raw" {
			p.raw, err = b.measure(ctx, n, what+" raw", raw)
		} else {
			p.edge, err = b.measure(ctx, n, what+" edgefn", edge)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

// measure runs one measurement until other processes did not disturb it (see
// harness.LeastDisturbed), logging each run, and keeps the least disturbed.
func (b *bench) measure(ctx context.Context, n int, what string, run func(context.Context) (result, error)) (result, error) {
	best, _, runs, err := harness.LeastDisturbed(b.opts.Options, func(int) (result, float64, error) {
		r, err := run(ctx)
		if err != nil {
			return r, 0, fmt.Errorf("round %d, %s: %w", n, what, err)
		}
		b.logf("round %d %-16s %9.0f msgs/s  %6.3f s  CPU µs/msg: gateway %.1f, plugin %.1f, broker %.1f, bench %.1f  other load %.0f%%%s",
			n, what, r.rate(), r.elapsed.Seconds(), r.cpu.gateway, r.cpu.plugin, r.cpu.broker, r.cpu.bench, 100*r.other, r.extra())
		return r, r.other, nil
	}, func(other float64) error {
		b.logf("round %d %s: other processes used %.0f%% of the machine; measuring again", n, what, 100*other)
		return nil
	})
	best.attempts = runs
	return best, err
}

// waitQuiet waits until no other benchmark runs on the machine (another triggerbench,
// edgebench, wrk or a `go test -bench` of bench/; up to 15 minutes), then until the machine's
// CPU has been quiet for a second (up to -quiet-wait), and records how long that took.
func (b *bench) waitQuiet(ctx context.Context) error {
	w, err := b.opts.WaitTurn(ctx, b.log, "triggerbench", "edgebench", "wrk", "bench.test")
	if err != nil {
		return err
	}
	b.waits = append(b.waits, w)
	return nil
}
