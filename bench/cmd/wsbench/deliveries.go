package main

import (
	"context"
	"sync"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// drainTimeout bounds the wait, after the publishers stopped, for the clients to receive
// what was published.
const drainTimeout = 10 * time.Second

// deliveriesResult is one server's deliveries measurement.
type deliveriesResult struct {
	subscribed int
	dial       dialStats
	// published counts the publications answered 200, delivered the frames the clients
	// received, in elapsed: from the first publish call to the last receipt.
	published, delivered int64
	elapsed              time.Duration
	// publishing is how long the publishers ran (-duration and their last call).
	publishing time.Duration
	// missing counts publications a subscriber never received; pubErrors failed publish
	// calls; dropped connections the server ended; gaps, dupes and bad what the clients saw
	// out of order or could not read.
	missing, pubErrors        int64
	dropped, gaps, dupes, bad int64
	cpu                       cpuPer
	other                     float64
	attempts                  int
}

// rate is deliveries per second.
func (r deliveriesResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.delivered) / r.elapsed.Seconds()
}

// pubRate is publications accepted per second while the publishers ran.
func (r deliveriesResult) pubRate() float64 {
	if r.publishing <= 0 {
		return 0
	}
	return float64(r.published) / r.publishing.Seconds()
}

func (r deliveriesResult) serverCPU() float64 { return r.cpu.server }

// errors counts everything that went wrong.
func (r deliveriesResult) errors() int64 {
	return int64(r.dial.errors()) + r.missing + r.pubErrors + r.dropped + r.gaps + r.dupes + r.bad
}

// deliveries starts the server, connects -subs clients spread over -topics topics, and has
// -publishers publishers publish as fast as the server answers for -duration; then waits until
// every client has received every publication of its topic.
func (b *bench) deliveries(ctx context.Context, who string) (deliveriesResult, error) {
	var res deliveriesResult
	srv, err := b.startServer(ctx, who)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	o := b.opts
	f, err := b.connect(ctx, who, fleetConfig{addr: srv.Addr, n: o.subs, topicOf: func(i int) int { return i % o.topics }})
	if err != nil {
		return res, err
	}
	defer f.close()
	res.subscribed, res.dial = len(f.clients), f.dial
	pub := newPublisher(srv.Addr, o.publishers)
	defer pub.close()
	// seqs[t] is the last seq published to topic t, across attempts.
	seqs := make([]int64, o.topics)
	run := func(ctx context.Context) (deliveriesResult, float64, error) {
		r := res
		err := r.publishFor(ctx, f, pub, srv, seqs, o.publishers, o.duration)
		return r, r.other, err
	}
	res, res.attempts, err = attempt(ctx, b, who+" deliveries", run)
	if err != nil {
		return res, err
	}
	for _, c := range f.clients {
		if last := c.last.Load(); last < seqs[c.topic] {
			res.missing += seqs[c.topic] - last
		}
	}
	res.dropped = f.dropped.Load()
	_, res.gaps, res.dupes, res.bad = f.counts()
	return res, nil
}

// publishFor runs the publishers for d: publisher p owns the topics t with t%publishers == p
// and publishes to them in turn, each call once the previous one was answered, so that every
// topic's seqs are published in order. It then waits until the clients have received all of
// it (up to drainTimeout) and records the rates, the CPU spent and the other load into r.
func (r *deliveriesResult) publishFor(ctx context.Context, f *fleet, pub *publisher, srv *harness.Server, seqs []int64, publishers int, d time.Duration) error {
	var want int64 // frames the clients must receive in this run
	received0, _, _, _ := f.counts()
	seqs0 := append([]int64(nil), seqs...)
	u0 := harness.Snapshot(srv)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	published := make([]int64, publishers)
	failed := make([]int64, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				for t := p; t < len(seqs); t += publishers {
					seqs[t]++
					if err := pub.publish(topicName(t), seqs[t]); err != nil {
						failed[p]++
						continue
					}
					published[p]++
				}
			}
		}()
	}
	wg.Wait()
	r.publishing = time.Since(start)
	r.published, r.pubErrors = 0, 0
	for p := range publishers {
		r.published += published[p]
		r.pubErrors += failed[p]
	}
	for _, c := range f.clients {
		want += seqs[c.topic] - seqs0[c.topic]
	}
	var err error
	if r.delivered, err = f.waitReceived(ctx, received0+want); err != nil {
		return err
	}
	r.delivered -= received0
	var lastAt int64
	for _, c := range f.clients {
		lastAt = max(lastAt, c.lastAt.Load())
	}
	r.elapsed = time.Duration(lastAt) - start.Sub(f.base)
	u := harness.Snapshot(srv).Since(u0)
	r.cpu, r.other = perDelivery(u, r.delivered), u.Other()
	return nil
}

// waitReceived polls the clients every 2 ms until they have received want frames in all,
// or drainTimeout has passed, and returns how many they received.
func (f *fleet) waitReceived(ctx context.Context, want int64) (int64, error) {
	deadline := time.Now().Add(drainTimeout)
	for {
		received, _, _, _ := f.counts()
		if received >= want || time.Now().After(deadline) {
			return received, nil
		}
		select {
		case <-ctx.Done():
			return received, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}
