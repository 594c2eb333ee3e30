// Command rpcbench measures the RabbitMQ RPC round trip through edgefn (docs/events.md#rpc-replies)
// against the RPC server of the RabbitMQ tutorials, in one run on one machine: the same RPC
// clients (each the tutorials' client, with a connection, a channel and an exclusive
// server-named reply queue of its own, making one call at a time) call, for -duration, either
// a queue-triggered function that returns nothing (triggerbench's noop) or ./rawrpc, an
// amqp091 server that answers each request with an empty reply and acknowledges it. Each call is
// timed from its publish to its reply; a run reports p50, p99 and calls per second.
//
// edgefn runs `serve --amqp` with the function on a fresh queue, log level warn, the queue
// trigger's default prefetch and concurrency (16), which rawrpc takes as its prefetch. Each
// round measures every -callers count, the baseline and edgefn one after the other (which goes
// first alternates). It reports the median over the rounds with the lowest and highest round as
// markdown, and with -write FILE replaces the part of FILE between <!-- rpc-results:start -->
// and <!-- rpc-results:end --> (appended when missing) with that report.
//
// Usage, from the repository, with RabbitMQ on its default local port:
//
//	go run ./bench/cmd/rpcbench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes rpcbench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "rpcbench", Section: "rpc-results", Attempts: 3,
	Programs: []harness.Program{harness.Edgefn, {Name: "noop", Package: "./bench/cmd/triggerbench/noop"},
		{Name: "rawrpc", Package: "./bench/cmd/rpcbench/rawrpc"}}}

// prefetch is the queue trigger's default prefetch (docs/manifest.md), which rawrpc takes too.
const prefetch = 16

// options are rpcbench's flags.
type options struct {
	rounds   int
	callers  []int
	duration time.Duration
	timeout  time.Duration
	amqpURL  string
	// Options are the flags every benchmark command has.
	harness.Options
}

func main() {
	o := options{}
	callers := flag.String("callers", "1,16", "comma-separated counts of concurrent RPC clients, each measured in turn")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every -callers count, the baseline and edgefn in turn")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long the clients call in one run")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "bound on one call")
	flag.StringVar(&o.amqpURL, "amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	cmd.Main(&o.Options, func() error {
		for _, f := range strings.Split(*callers, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-callers: %q is not a positive count", f)
			}
			o.callers = append(o.callers, n)
		}
		if o.rounds < 1 || o.duration <= 0 || o.timeout <= 0 {
			return errors.New("-rounds, -duration and -timeout must be positive")
		}
		return nil
	}, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

// bench runs the rounds; each run starts its server on a fresh queue.
type bench struct {
	opts options
	run  *harness.Run
	// edgefn is the gateway, noop the function it serves and rawrpc the baseline server.
	edgefn, noop, rawrpc string
	// conn declares the queues and reads their consumers; rabbitPids are the broker's
	// processes, whose CPU a run counts as its own.
	conn       *amqp091.Connection
	rabbitPids []int
	version    string
	prefix     string
	seq        int
}

func run(ctx context.Context, o options, r *harness.Run) error {
	b := &bench{opts: o, run: r, edgefn: r.Bins[0], noop: r.Bins[1], rawrpc: r.Bins[2],
		rabbitPids: harness.PidsNamed("beam.smp"), prefix: fmt.Sprintf("%x", time.Now().Unix())}
	var err error
	if b.conn, err = amqp091.Dial(o.amqpURL); err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	defer b.conn.Close()
	b.version, _ = b.conn.Properties["version"].(string)
	rep := report{opts: o, run: r, broker: "RabbitMQ " + b.version}
	if rep.rounds, err = harness.Rounds(ctx, o.rounds, b.round); err != nil {
		return err
	}
	return r.Publish(rep.markdown)
}

// roundResult is one round: for each callers count, a run of each server.
type roundResult struct {
	n    int
	runs map[int]map[string]result
	// order is the servers in the order they ran.
	order []string
}

// round measures every callers count against both servers, the baseline first in odd rounds.
func (b *bench) round(ctx context.Context, n int) (roundResult, error) {
	rd := roundResult{n: n, runs: map[int]map[string]result{}, order: []string{"raw", "edgefn"}}
	if n%2 == 0 {
		slices.Reverse(rd.order)
	}
	for _, c := range b.opts.callers {
		rd.runs[c] = map[string]result{}
		for _, who := range rd.order {
			what := fmt.Sprintf("round %d, %d callers, %s", n, c, who)
			best, _, _, err := harness.Measure(b.run, what, func(int) (result, float64, error) {
				res, err := b.measure(ctx, who, c)
				if err != nil {
					return res, 0, fmt.Errorf("%s: %w", what, err)
				}
				return res, res.other, nil
			})
			if err != nil {
				return rd, err
			}
			b.run.Logf("%s: p50 %.3f ms  p99 %.3f ms  %.0f calls/s  failed %d  CPU µs/call: server %.0f, plugin %.0f, broker %.0f, clients %.0f  other %.0f%%", what,
				ms(pct(best.lat, 50)), ms(pct(best.lat, 99)), best.rate(), best.failed, best.cpu.server, best.cpu.plugin, best.cpu.broker, best.cpu.clients, 100*best.other)
			rd.runs[c][who] = best
		}
	}
	return rd, nil
}

// measure starts who's server on a fresh queue, waits until it consumes, warms it up and runs
// the clients.
func (b *bench) measure(ctx context.Context, who string, callers int) (result, error) {
	b.seq++
	queue := fmt.Sprintf("bench-rpc-%s-%d", b.prefix, b.seq)
	if err := b.declare(queue); err != nil {
		return result{}, err
	}
	defer b.delete(queue)
	var srv *harness.Server
	var err error
	if who == "raw" {
		srv, err = harness.StartServer(ctx, "rawrpc", b.rawrpc, []string{"-amqp", b.opts.amqpURL, "-queue", queue, "-prefetch", strconv.Itoa(prefetch)})
	} else {
		var abs string
		if abs, err = filepath.Abs(b.noop); err != nil {
			return result{}, err
		}
		manifest := fmt.Sprintf("name: rpc\nhandler: %s\ntriggers:\n  - queue: {name: %s}\n", abs, queue)
		serve := harness.Serve{Edgefn: b.edgefn, Dir: b.run.Tmp, Name: "rpc", Manifest: manifest, Flags: []string{"--amqp", b.opts.amqpURL}}
		srv, err = serve.Start(ctx)
	}
	if err != nil {
		return result{}, err
	}
	defer srv.Stop()
	if err := b.waitConsumer(ctx, queue, srv); err != nil {
		return result{}, err
	}
	clients, err := dialClients(b.opts.amqpURL, callers)
	if err != nil {
		return result{}, err
	}
	defer closeClients(clients)
	if _, err := callFor(ctx, clients, queue, 300*time.Millisecond, b.opts.timeout); err != nil {
		return result{}, fmt.Errorf("warm-up: %w\n%s", err, srv.Output())
	}
	if err := b.run.WaitTurn(ctx); err != nil {
		return result{}, err
	}
	before := harness.Snapshot(srv, b.rabbitPids...)
	res, err := callFor(ctx, clients, queue, b.opts.duration, b.opts.timeout)
	if err != nil {
		return res, fmt.Errorf("%w\n%s", err, srv.Output())
	}
	used := harness.Snapshot(srv, b.rabbitPids...).Since(before)
	res.other = used.Other()
	if n := len(res.lat); n > 0 {
		perCall := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
		res.cpu = cpuPerCall{server: perCall(used.Server), plugin: perCall(used.Children), broker: perCall(used.Procs), clients: perCall(used.Self)}
	}
	return res, nil
}

// declare makes queue as edgefn's queue trigger and rawrpc declare it: durable, no arguments.
func (b *bench) declare(queue string) error {
	ch, err := b.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	return err
}

func (b *bench) delete(queue string) {
	if ch, err := b.conn.Channel(); err == nil {
		ch.QueueDelete(queue, false, false, false)
		ch.QueueDelete(queue+".dlq", false, false, false)
		ch.Close()
	}
}

// waitConsumer waits until queue has a consumer: the server is ready for calls.
func (b *bench) waitConsumer(ctx context.Context, queue string, srv *harness.Server) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ch, err := b.conn.Channel()
		if err != nil {
			return err
		}
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		ch.Close()
		if err != nil {
			return err
		}
		if q.Consumers > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("no consumer of %s after 60s\n%s", queue, srv.Output())
}

func ms(d time.Duration) float64 { return harness.Millis(d) }

func pct(sorted []time.Duration, p float64) time.Duration { return harness.Percentile(sorted, p) }
