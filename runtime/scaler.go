package runtime

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// scaleTick is how often the scaler decides.
const scaleTick = time.Second

// scaler decides, every scaleTick, how many plugin processes each version runs, between its
// manifest's scale.min and scale.max (docs/manifest.md, "Scaling"): up at once to what the
// load of the last tick needs, down only to the most it needed over the stabilization window,
// to zero after idle with no invocation when min is 0. It also keeps the node under max
// processes (--max-instances): to make room it stops the least recently used idle processes of
// other functions above their min. Every change goes through it, under mu.
type scaler struct {
	max    int
	logger *slog.Logger
	events metric.Int64Counter // edgefn_scale_events_total{function,direction}

	mu    sync.Mutex
	pools map[*pool]struct{}
	total int // the sum of the pools' want
}

func newScaler(max int, logger *slog.Logger, events metric.Int64Counter) *scaler {
	return &scaler{max: max, logger: logger, events: events, pools: make(map[*pool]struct{})}
}

// run decides every scaleTick until ctx ends.
func (s *scaler) run(ctx context.Context) {
	t := time.NewTicker(scaleTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.decide(now)
		}
	}
}

// add starts supervising p's first processes, firsts, at a deploy. A deploy's processes
// always start; room is made for them as for any scale-up, as far as it can be.
func (s *scaler) add(p *pool, firsts []*instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pools[p] = struct{}{}
	s.makeRoom(p, len(firsts))
	p.usage.reset(time.Now())
	p.setWant(len(firsts), firsts)
	s.total += len(firsts)
}

// remove stops scaling p: its version drains or its pool closes.
func (s *scaler) remove(p *pool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pools[p]; ok {
		delete(s.pools, p)
		s.total -= int(p.want.Load())
	}
}

// wake starts one process of p, which is at zero, for a call: a cold start. It reports whether
// this call started it (calls that arrive meanwhile share that start), and fails with
// ErrAtCapacity when the node has no room.
func (s *scaler) wake(p *pool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pools[p]; !ok || p.want.Load() > 0 {
		return false, nil
	}
	if !s.makeRoom(p, 1) {
		return false, ErrAtCapacity
	}
	p.usage.lastUsed = time.Now()
	s.set(p, 1, "cold start: a call came while the function was at zero")
	return true, nil
}

// decide moves every scaled pool to what its load needs.
func (s *scaler) decide(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.pools {
		if p.scale.Fixed() {
			continue
		}
		cur := int(p.want.Load())
		n, reason := p.usage.recommend(p.scale, now, cur, p.inflight(), p.backlog())
		if n > cur {
			s.makeRoom(p, n-cur)
			if room := s.max - s.total; n-cur > room {
				if room <= 0 {
					continue
				}
				n, reason = cur+room, reason+fmt.Sprintf(" (capped by --max-instances %d)", s.max)
			}
		}
		if n != cur {
			s.set(p, n, reason)
		}
	}
}

// set changes p's want to n, logs why and counts it. Called with mu held.
func (s *scaler) set(p *pool, n int, reason string) {
	cur := int(p.want.Load())
	p.setWant(n, nil)
	s.total += n - cur
	direction := "up"
	if n < cur {
		direction = "down"
	}
	s.logger.Info("function scaled", "function", p.spec.Function, "version", p.spec.Version,
		"from", cur, "to", n, "reason", reason)
	if s.events != nil {
		s.events.Add(context.Background(), 1, metric.WithAttributes(
			attribute.String("function", p.spec.Function), attribute.String("direction", direction)))
	}
}

// makeRoom frees room for n more processes of p under the node's cap, stopping one process at
// a time of the least recently used other functions that run more than their min and have
// nothing in flight. It reports whether all n fit. Called with mu held.
func (s *scaler) makeRoom(p *pool, n int) bool {
	need := s.total + n - s.max
	if need <= 0 {
		return true
	}
	var idle []*pool
	for o := range s.pools {
		if o.spec.Function != p.spec.Function && int(o.want.Load()) > o.scale.Min && o.inflight() == 0 {
			idle = append(idle, o)
		}
	}
	slices.SortFunc(idle, func(a, b *pool) int { return a.usage.lastUsed.Compare(b.usage.lastUsed) })
	for _, o := range idle {
		for need > 0 && int(o.want.Load()) > o.scale.Min {
			s.set(o, int(o.want.Load())-1, fmt.Sprintf("making room for %s under --max-instances %d", p.spec.Function, s.max))
			need--
		}
		if need == 0 {
			break
		}
	}
	return need <= 0
}

// usage is what the scaler knows of a pool's load. calls and busy are counted by every
// invocation (Function.invoke); the rest is the scaler's own, under its mu.
type usage struct {
	calls atomic.Int64 // invocations finished
	busy  atomic.Int64 // their summed durations, in nanoseconds

	lastCalls, lastBusy int64
	lastTick, lastUsed  time.Time
	recent              []recommendation // within the stabilization window, oldest first
}

type recommendation struct {
	at time.Time
	n  int
}

// done counts n invocations that took took together (a batch).
func (u *usage) done(n int, took time.Duration) {
	u.calls.Add(int64(n))
	u.busy.Add(int64(n) * int64(took))
}

// reset starts the record at a deploy: the version counts as used now.
func (u *usage) reset(now time.Time) {
	u.lastCalls, u.lastBusy = u.calls.Load(), u.busy.Load()
	u.lastTick, u.lastUsed = now, now
	u.recent = u.recent[:0]
}

// recommend is how many processes the load since the last tick asks for, given cur running,
// inflight invocations now and backlog messages waiting in the triggers, and why. The load is
// the mean number of invocations in flight since the last tick (their summed time over the
// tick), or those in flight now when more, plus the backlog.
func (u *usage) recommend(sc manifest.Scale, now time.Time, cur, inflight, backlog int) (int, string) {
	calls, busy := u.calls.Load(), u.busy.Load()
	load := float64(inflight)
	if dt := now.Sub(u.lastTick); dt > 0 {
		load = max(load, float64(busy-u.lastBusy)/float64(dt))
	}
	load += float64(backlog)
	if calls != u.lastCalls || inflight > 0 || backlog > 0 {
		u.lastUsed = now
	}
	u.lastCalls, u.lastBusy, u.lastTick = calls, busy, now
	needed := int(math.Ceil(load / float64(sc.Target)))
	u.recent = append(u.recent, recommendation{now, needed})
	drop := 0
	for drop < len(u.recent)-1 && now.Sub(u.recent[drop].at) > sc.Stabilization {
		drop++
	}
	u.recent = u.recent[drop:]

	n, reason := needed, fmt.Sprintf("load %.1f (invocations in flight and %d messages waiting), target %d per instance", load, backlog, sc.Target)
	if n < cur {
		// Down slowly: to the most the window asked for.
		for _, r := range u.recent {
			n = max(n, r.n)
		}
		n = min(n, cur)
		reason = fmt.Sprintf("at most %d instances needed over the last %s (load %.1f now)", n, sc.Stabilization, load)
	}
	if sc.Min == 0 {
		if idle := now.Sub(u.lastUsed); idle >= sc.Idle {
			return 0, fmt.Sprintf("idle: no invocation for %s", idle.Truncate(time.Second))
		}
		n = max(n, min(cur, 1)) // keep the one warm until idle
	}
	return min(max(n, sc.Min), sc.Max), reason
}

// defaultMaxInstances sizes --max-instances from the machine's memory: as many processes as
// fit at the default memory limit of each, and at least 16.
func defaultMaxInstances() int {
	total := memTotal()
	if total == 0 {
		return 64
	}
	return max(16, int(total/manifest.DefaultMemory))
}

// memTotal reads MemTotal from /proc/meminfo, in bytes; 0 when it cannot.
func memTotal() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
