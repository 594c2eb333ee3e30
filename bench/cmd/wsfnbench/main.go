// Command wsfnbench measures WebSocket functions (docs/websocket.md#functions) against what
// they replace, in one run on one machine, each measurement against a gateway of its own:
//
//   - connects: -conns (2,000) connections, -dialers (32) at a time, each dialling, sending a
//     ping and waiting for its reply, then closing. With a connect function (./fn, which signs
//     the client in from nothing) and no token, against a JWT in the URL and no function.
//     Connections per second, and p50/p99 from the dial's start to the ping's reply (after the
//     connected frame, with the function).
//   - rpc: -clients (1 and 16) clients calling ./fn for -duration (5s), one call at a time
//     each, over the socket (an rpc op, each client on a connection of its own) against HTTP
//     (POST /echo, each client on a keep-alive connection of its own), with the same body.
//     Calls per second and p50/p99 of the round trip.
//
// The clients live in this process; the gateway (`edgefn serve`, log level warn, no connection
// caps) in its own, started for each measurement. Before each measurement wsfnbench waits its
// turn (harness.WaitTurn). It prints the report as markdown, and with -write FILE replaces the
// part of FILE between <!-- wsfn-results:start --> and <!-- wsfn-results:end --> with it.
//
// Usage, from the repository:
//
//	go run ./bench/cmd/wsfnbench -write bench/README.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes wsfnbench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "wsfnbench", Section: "wsfn-results", Attempts: 1,
	Programs: []harness.Program{harness.Edgefn, {Name: "wsfn", Package: "./bench/cmd/wsfnbench/fn", Plugin: true}}}

// options are wsfnbench's flags.
type options struct {
	conns, dialers int
	clients        []int
	duration       time.Duration
	// Options are the flags every benchmark command has.
	harness.Options
}

func main() {
	o := options{}
	clients := flag.String("clients", "1,16", "comma-separated counts of concurrent rpc and HTTP clients, each measured in turn")
	flag.IntVar(&o.conns, "conns", 2000, "connections of each connect measurement")
	flag.IntVar(&o.dialers, "dialers", 32, "clients dialling at once")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long the clients call in one rpc or HTTP run")
	cmd.Main(&o.Options, func() error {
		for _, f := range strings.Split(*clients, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-clients: %q is not a positive count", f)
			}
			o.clients = append(o.clients, n)
		}
		if o.conns < 1 || o.dialers < 1 || o.duration <= 0 {
			return errors.New("-conns, -dialers and -duration must be positive")
		}
		return nil
	}, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

// secret signs the tokens of the JWT connects and of the rpc clients.
const secret = "wsfnbench-secret-of-32-bytes-or-more"

// manifest binds ./fn (handler) to POST /echo and the rpc bench.echo, and with connect also
// to every connect.
func manifest(handler string, connect bool) string {
	m := `kind: topics
rules:
  - match: bench.*
    subscribe: 'true'
---
name: wsfn
handler: ` + handler + `
concurrency: 1000
triggers:
  - http: {method: POST, path: /echo}
  - websocket: {event: rpc, method: bench.echo}
`
	if connect {
		m += "  - websocket: {event: connect}\n"
	}
	return m
}

func run(ctx context.Context, o options, r *harness.Run) error {
	b := &bench{opts: o, run: r}
	for _, fn := range []bool{true, false} {
		res, err := b.connects(ctx, fn)
		if err != nil {
			return err
		}
		b.connectRuns = append(b.connectRuns, res)
	}
	for _, n := range o.clients {
		for _, overHTTP := range []bool{false, true} {
			res, err := b.calls(ctx, n, overHTTP)
			if err != nil {
				return err
			}
			b.callRuns = append(b.callRuns, res)
		}
	}
	return r.Publish(b.markdown)
}

// bench holds a run's results.
type bench struct {
	opts        options
	run         *harness.Run
	connectRuns []result
	callRuns    []result
}

// result is one measurement: what ran, how many completed in how long, their latencies
// (sorted), the errors, and the share of the machine other processes used.
type result struct {
	what     string
	clients  int
	done     int
	elapsed  time.Duration
	lat      []time.Duration
	errors   int
	firstErr error
	other    float64
}

// start starts a gateway serving fn, with or without a connect function.
func (b *bench) start(ctx context.Context, connect bool) (*harness.Server, error) {
	serve := harness.Serve{Edgefn: b.run.Bins[0], Dir: b.run.Tmp, Manifest: manifest(b.run.Bins[1], connect),
		Flags: []string{"--jwt-secret", secret, "--ws-max-conns-per-ip", "0", "--ws-max-conns", "0"}}
	return serve.Start(ctx, harness.Check{Path: "/healthz", Status: 200}, harness.Check{Path: "/readyz", Status: 200})
}
