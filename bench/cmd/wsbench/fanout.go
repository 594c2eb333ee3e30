package main

import (
	"context"
	"slices"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// fanTopic is the one topic of the memory and fan-out measurement.
const fanTopic = 0

// fanoutTimeout bounds the wait for one publication to reach every subscriber.
const fanoutTimeout = 10 * time.Second

// fanoutResult is one server's memory and fan-out measurement.
type fanoutResult struct {
	// subscribed clients, out of -conns; dial says how connecting went.
	subscribed int
	dial       dialStats
	// rssBefore is the server's VmRSS before the clients connected, rssAfter once they had
	// been idle for -settle (KiB).
	rssBefore, rssAfter int64
	// last holds, for every timed publication, the time from the start of its publish call to
	// its receipt by the last subscriber, sorted; median the same to the median subscriber.
	last, median []time.Duration
	// warm is the same as last for the untimed first publications.
	warm []time.Duration
	// missed counts deliveries that had not arrived fanoutTimeout after their publication,
	// pubErrors publish calls that failed, and abandoned the publications not sent after one
	// was missed; dropped counts connections the server ended, and gaps, dupes and bad frames
	// what the clients saw out of order or could not read.
	missed, pubErrors, abandoned int
	dropped, gaps, dupes, bad    int64
	// publishCall holds the publish calls' own durations, sorted.
	publishCall []time.Duration
	// cpu is the CPU time per delivery during the publications (the untimed ones included),
	// and other the share of the machine other processes used meanwhile; attempts counts the
	// runs made.
	cpu      cpuPer
	other    float64
	attempts int
}

// kibPerConn is the server's memory per subscribed connection.
func (r fanoutResult) kibPerConn() float64 {
	if r.subscribed == 0 {
		return 0
	}
	return float64(r.rssAfter-r.rssBefore) / float64(r.subscribed)
}

// errors counts everything that went wrong: failed dials and subscribes, missed deliveries,
// failed publishes, dropped connections, and frames out of order.
func (r fanoutResult) errors() int64 {
	return int64(r.dial.errors()+r.missed+r.pubErrors+r.abandoned) + r.dropped + r.gaps + r.dupes + r.bad
}

// p is the p-th percentile of the time to the last subscriber.
func (r fanoutResult) p(p float64) time.Duration { return harness.Percentile(r.last, p) }

// fanout starts the server, reads its memory, connects -conns clients to one topic, reads
// its memory again once they are idle, then times -pubs publications to all of them, one
// after the other: each is sent once the previous one reached every subscriber.
func (b *bench) fanout(ctx context.Context, who string) (fanoutResult, error) {
	var res fanoutResult
	srv, err := b.startServer(ctx, who)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	if err := b.run.WaitTurn(ctx); err != nil {
		return res, err
	}
	if res.rssBefore, err = rssKB(srv.Pid()); err != nil {
		return res, err
	}
	per := b.opts.warmup + b.opts.pubs
	f, err := b.connect(ctx, who, fleetConfig{addr: srv.Addr, n: b.opts.conns, topicOf: func(int) int { return fanTopic },
		timed: per * b.run.Attempts})
	if err != nil {
		return res, err
	}
	defer f.close()
	res.subscribed, res.dial = len(f.clients), f.dial
	select {
	case <-time.After(b.opts.settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if res.rssAfter, err = rssKB(srv.Pid()); err != nil {
		return res, err
	}

	pub := newPublisher(srv.Addr, 1)
	defer pub.close()
	next := int64(1)
	run := func(ctx context.Context) (fanoutResult, float64, error) {
		r := res
		r.timePublications(ctx, f, pub, srv, &next, b.opts.warmup, b.opts.pubs)
		return r, r.other, ctx.Err()
	}
	res, res.attempts, err = attempt(ctx, b, who+" fan-out", run)
	if err != nil {
		return res, err
	}
	res.dropped = f.dropped.Load()
	_, gaps, dupes, bad := f.counts()
	res.gaps, res.dupes, res.bad = gaps, dupes, bad
	return res, nil
}

// timePublications publishes warmup+pubs publications to the fan-out topic, seqs from *next
// on, each once the previous one has reached every client or fanoutTimeout has passed, and
// records their timings, the CPU spent and the other load into r.
func (r *fanoutResult) timePublications(ctx context.Context, f *fleet, pub *publisher, srv *harness.Server, next *int64, warmup, pubs int) {
	r.last, r.median, r.warm, r.publishCall = nil, nil, nil, nil
	r.missed, r.pubErrors, r.abandoned = 0, 0, 0
	n := len(f.clients)
	times := make([]time.Duration, n)
	u0 := harness.Snapshot(srv)
	for k := range warmup + pubs {
		seq := *next
		*next++
		start := time.Since(f.base)
		err := pub.publish(topicName(fanTopic), seq)
		r.publishCall = append(r.publishCall, time.Since(f.base)-start)
		if err != nil {
			r.pubErrors++
			continue
		}
		select {
		case <-f.done[seq]:
		case <-time.After(fanoutTimeout):
		case <-ctx.Done():
			return
		}
		got := times[:0]
		for _, c := range f.clients {
			if at := c.recv[seq].Load(); at > 0 {
				got = append(got, time.Duration(at)-start)
			}
		}
		slices.Sort(got)
		last, median := fanoutTimeout, fanoutTimeout
		if len(got) > n/2 {
			median = got[n/2]
		}
		missed := n - len(got)
		if missed == 0 {
			last = got[n-1]
		}
		// A publication that did not reach everyone took at least the timeout.
		if k < warmup {
			r.warm = append(r.warm, last)
		} else {
			r.last = append(r.last, last)
			r.median = append(r.median, median)
		}
		if missed > 0 {
			// A client that missed one would make every later one wait for the timeout too.
			r.missed += missed
			r.abandoned = warmup + pubs - k - 1
			break
		}
	}
	u := harness.Snapshot(srv).Since(u0)
	r.cpu, r.other = perDelivery(u, int64(n)*int64(warmup+pubs)), u.Other()
	slices.Sort(r.last)
	slices.Sort(r.median)
	slices.Sort(r.publishCall)
}
