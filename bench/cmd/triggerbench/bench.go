package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// bench runs the measurements. It holds the broker clients that fill the queues and streams
// and that the baseline consumers use; each edgefn run starts its own gateway.
type bench struct {
	opts options
	run  *harness.Run
	// edgefn is the gateway (./cmd/edgefn); noop is the function plugin (./noop).
	edgefn, noop string

	// redis and rabbit are the brokers, connected when a selected metric needs them.
	redis  *redisSide
	rabbit *rabbitSide

	// prefix and seq make the queue and stream names of this run unique.
	prefix string
	seq    int
}

// newBench connects to the brokers the selected metrics need.
func newBench(ctx context.Context, o options, r *harness.Run) (*bench, error) {
	b := &bench{opts: o, run: r, edgefn: r.Bins[0], noop: r.Bins[1], prefix: fmt.Sprintf("%x", time.Now().Unix())}
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
// harness.Measure), logging each run, and keeps the least disturbed. run waits its turn
// once its queue or stream is filled.
func (b *bench) measure(ctx context.Context, n int, what string, run func(context.Context) (result, error)) (result, error) {
	best, _, runs, err := harness.Measure(b.run, fmt.Sprintf("round %d %s", n, what), func(int) (result, float64, error) {
		r, err := run(ctx)
		if err != nil {
			return r, 0, fmt.Errorf("round %d, %s: %w", n, what, err)
		}
		b.run.Logf("round %d %-16s %9.0f msgs/s  %6.3f s  CPU µs/msg: gateway %.1f, plugin %.1f, broker %.1f, bench %.1f  other load %.0f%%%s",
			n, what, r.rate(), r.elapsed.Seconds(), r.cpu.gateway, r.cpu.plugin, r.cpu.broker, r.cpu.bench, 100*r.other, r.extra())
		return r, r.other, nil
	})
	best.attempts = runs
	return best, err
}
