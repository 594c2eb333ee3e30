package guard

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"
)

// Rate is a sustained rate and a burst, as given by a flag such as "100/s".
type Rate struct {
	Limit rate.Limit // events per second
	Burst int
}

// ParseRate parses "N/UNIT", where UNIT is s, m, h or a duration ("100/s", "600/m",
// "5/250ms"). burst 0 means one UNIT's worth (N, at least 1). An empty spec is no limit:
// the zero Rate.
func ParseRate(spec string, burst int) (Rate, error) {
	if spec == "" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(spec, "/")
	count, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || count <= 0 || math.IsInf(count, 0) || math.IsNaN(count) {
		return Rate{}, fmt.Errorf("rate %q: want N/UNIT with N > 0, e.g. 100/s or 600/m", spec)
	}
	var d time.Duration
	switch per {
	case "s":
		d = time.Second
	case "m":
		d = time.Minute
	case "h":
		d = time.Hour
	default:
		if d, err = time.ParseDuration(per); err != nil || d <= 0 {
			return Rate{}, fmt.Errorf("rate %q: unit %q: want s, m, h or a positive duration", spec, per)
		}
	}
	if burst < 0 {
		return Rate{}, fmt.Errorf("burst %d: must be >= 0", burst)
	}
	if burst == 0 {
		burst = max(1, int(math.Ceil(count)))
	}
	return Rate{Limit: rate.Limit(count / d.Seconds()), Burst: burst}, nil
}

// Enabled reports whether r limits anything.
func (r Rate) Enabled() bool { return r.Limit > 0 }

// DefaultMaxClients bounds a Limiter's table when its config does not.
const DefaultMaxClients = 100_000

// Limiter holds one token bucket per client IP. It is safe for concurrent use.
type Limiter struct {
	rate       Rate
	maxClients int
	idle       time.Duration // an entry idle this long has a full bucket: dropping it loses nothing
	now        func() time.Time

	mu        sync.Mutex
	clients   map[netip.Addr]*client
	lastSweep time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter returns a limiter of r per client, keeping at most maxClients buckets (0:
// DefaultMaxClients).
func NewLimiter(r Rate, maxClients int) (*Limiter, error) {
	if !r.Enabled() || r.Burst < 1 {
		return nil, errors.New("guard: a limiter needs a rate > 0 and a burst >= 1")
	}
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	refill := time.Duration(float64(r.Burst) / float64(r.Limit) * float64(time.Second))
	return &Limiter{
		rate: r, maxClients: maxClients, idle: max(refill, time.Second), now: time.Now,
		clients: make(map[netip.Addr]*client), lastSweep: time.Now(),
	}, nil
}

// Allow takes a token from the bucket of ip's client (ClientKey: an IPv6 client is its /64).
// When there is none it reports false and how long until there will be one.
func (l *Limiter) Allow(ip netip.Addr) (bool, time.Duration) {
	ip = ClientKey(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	c := l.clients[ip]
	if c == nil {
		if len(l.clients) >= l.maxClients {
			l.evictLocked()
		}
		c = &client{lim: rate.NewLimiter(l.rate.Limit, l.rate.Burst)}
		l.clients[ip] = c
	}
	c.seen = now
	r := c.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Blocked reports, without taking a token, whether ip's bucket is empty, and if so how long
// until it holds one again. It suits limits on failures: check Blocked before the attempt,
// and Allow (which takes the token) only when the attempt failed.
func (l *Limiter) Blocked(ip netip.Addr) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[ip]
	if c == nil {
		return false, 0
	}
	tokens := c.lim.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / float64(l.rate.Limit) * float64(time.Second))
}

// Len is the number of clients the limiter currently tracks.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// sweepLocked drops the entries idle for longer than l.idle, at most once per l.idle: the
// cost is amortised over the calls in between.
func (l *Limiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.idle {
		return
	}
	l.lastSweep = now
	for ip, c := range l.clients {
		if now.Sub(c.seen) >= l.idle {
			delete(l.clients, ip)
		}
	}
}

// evictLocked makes room in a full table: it drops the least recently seen of a few entries
// (map order is random, so this samples). A dropped client starts again with a full bucket,
// which errs on the side of letting traffic through; the table never grows past its bound.
func (l *Limiter) evictLocked() {
	const sample = 8
	var victim netip.Addr
	var oldest time.Time
	i := 0
	for ip, c := range l.clients {
		if i == 0 || c.seen.Before(oldest) {
			victim, oldest = ip, c.seen
		}
		if i++; i == sample {
			break
		}
	}
	delete(l.clients, victim)
}

// Middleware answers 429 (a *fiber.Error, with Retry-After in whole seconds) when the
// request's client, as ips finds it, is over its rate; what is the refused thing, for the
// message ("function calls", "WebSocket connects").
func (l *Limiter) Middleware(ips *ClientIP, what string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ok, wait := l.Allow(ips.Of(c))
		if ok {
			return c.Next()
		}
		secs := max(1, int(math.Ceil(wait.Seconds())))
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return fiber.NewError(fiber.StatusTooManyRequests, fmt.Sprintf("too many %s from this client; retry in %ds", what, secs))
	}
}
