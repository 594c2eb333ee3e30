package main

import (
	"context"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// bench runs the measurements; each starts a server of its own.
type bench struct {
	opts options
	run  *harness.Run
	// edgefn is the gateway (./cmd/edgefn); rawws the baseline (./bench/rawws).
	edgefn, rawws string
}

// round is what one round measured on both servers; a group not selected stays zero.
type round struct {
	// first is the server measured first in this round.
	first      string
	fanout     map[string]fanoutResult
	deliveries map[string]deliveriesResult
}

// order is the servers in the order round n measures them: the baseline first in odd
// rounds, edgefn first in even ones, so that a drift of the machine's speed does not always
// favour one.
func order(n int) []string {
	if n%2 == 1 {
		return []string{rawServer, edgefnServer}
	}
	return []string{edgefnServer, rawServer}
}

// round measures every selected metric once on each server.
func (b *bench) round(ctx context.Context, n int) (round, error) {
	rd := round{first: order(n)[0], fanout: map[string]fanoutResult{}, deliveries: map[string]deliveriesResult{}}
	if b.opts.only.Runs("fanout") {
		for _, who := range order(n) {
			r, err := b.fanout(ctx, who)
			if err != nil {
				return rd, fmt.Errorf("round %d, %s fan-out: %w", n, who, err)
			}
			b.run.Logf("round %d %-6s memory %5.1f KiB/conn (%d subscribed in %.1f s, %d errors)  fan-out p50 %6.1f ms  p99 %6.1f ms  other load %.0f%%",
				n, who, r.kibPerConn(), r.subscribed, r.dial.took.Seconds(), r.errors(), ms(r.p(50)), ms(r.p(99)), 100*r.other)
			rd.fanout[who] = r
		}
	}
	if b.opts.only.Runs("deliveries") {
		for _, who := range order(n) {
			r, err := b.deliveries(ctx, who)
			if err != nil {
				return rd, fmt.Errorf("round %d, %s deliveries: %w", n, who, err)
			}
			b.run.Logf("round %d %-6s deliveries %9.0f /s  publications %7.0f /s  errors %d  server CPU %.2f µs/delivery  other load %.0f%%",
				n, who, r.rate(), r.pubRate(), r.errors(), r.serverCPU(), 100*r.other)
			rd.deliveries[who] = r
		}
	}
	return rd, nil
}

// connect dials cfg's clients, -dialers at once and each up to -dial-attempts times, and
// says how many failed; it fails when none could subscribe. The caller closes the fleet.
func (b *bench) connect(ctx context.Context, who string, cfg fleetConfig) (*fleet, error) {
	cfg.dialers, cfg.attempts = b.opts.dialers, b.opts.dialAttempts
	f := dialFleet(ctx, cfg)
	if len(f.clients) == 0 {
		f.close()
		return nil, fmt.Errorf("no client could subscribe: %v", f.dial.firstErr)
	}
	if f.dial.firstErr != nil {
		b.run.Logf("%s: %d clients failed to connect or subscribe; the first: %v", who, f.dial.errors(), f.dial.firstErr)
	}
	return f, nil
}

// attempt runs one timed run until other processes did not disturb it (see harness.Measure),
// each run once it is the machine's turn, and returns the least disturbed with the number of
// runs made.
func attempt[R any](ctx context.Context, b *bench, what string, run func(context.Context) (R, float64, error)) (R, int, error) {
	best, _, runs, err := harness.Measure(b.run, what, func(int) (R, float64, error) {
		if err := b.run.WaitTurn(ctx); err != nil {
			var none R
			return none, 0, err
		}
		return run(ctx)
	})
	return best, runs, err
}

func ms(d time.Duration) float64 { return harness.Millis(d) }
