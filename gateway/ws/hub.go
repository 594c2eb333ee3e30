// Package ws is the gateway's WebSocket endpoint (docs/websocket.md): browsers connect to GET /ws,
// authenticate with a JWT, subscribe to topics allowed by the `kind: topics` rules, and
// receive what functions notify (fn.Result.Notify) and what other clients publish. A client
// publish on a topic also invokes the functions whose `websocket` trigger matches it, and
// functions run at the other moments of a connection too (functions.go): its connect (which
// may set its claims), a subscribe (the topic's initial state), an rpc op, and its disconnect.
//
// The Hub keeps a sharded registry of the topics this node's clients subscribe to, and
// hears every publication of every node through a [triggers.Topics] backend (in process,
// or Redis). The backend numbers publications per topic (epoch and offset) and keeps
// recent ones, so a client that reconnects resubscribes with its last offset and gets
// exactly what it missed, or `recovered:false`. The hub never blocks on a client: a frame
// goes out with one non-blocking write when the client's socket takes it at once (a
// publication's frame is encoded once, and a topic with many subscribers is written by
// several goroutines), and otherwise waits in the connection's bounded send queue for its
// writer goroutine, which runs only while there is something to write; a client that does
// not keep up is closed with 4008.
//
// Hostile clients meet bounds everywhere: a text frame must be UTF-8 (1007 otherwise), a topic
// at most manifest.MaxTopicLen bytes, a connection at most MaxSubscriptions topics, a client IP
// at most MaxConnsPerIP connections (429) and the hub at most MaxConns (1013); and nothing but
// the async replies publishes under requests.
package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/edgefn/edgefn/gateway/async"
	"github.com/edgefn/edgefn/gateway/auth"
	"github.com/edgefn/edgefn/gateway/guard"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
)

// Config configures a Hub. Zero values mean the defaults given.
type Config struct {
	// Topics carries publications and their history; required.
	Topics triggers.Topics
	// Auth verifies the tokens of connections; nil refuses every token (connections stay
	// anonymous).
	Auth *auth.Verifier
	// ClientIP finds a connection's client IP, the one the rate limits count by; nil: the TCP
	// peer. The connection's context, which RequestAccess gets, carries it
	// (async.WithClientIP): a client IP may own an async request (docs/async.md#who-may-see-it).
	ClientIP *guard.ClientIP
	// Effects carries out what functions triggered by client publishes emit and notify;
	// nil fails those invocations.
	Effects *dispatch.Effects
	// AllowedOrigins lists the Origin values browsers may connect from; "*" allows any.
	// Empty: the same origin only (the Origin's host is the request's Host). Clients that
	// send no Origin (not browsers) are always allowed.
	AllowedOrigins []string
	// RequestAccess decides who may subscribe to requests.{id}, the reply topic of an async
	// request (docs/async.md): nil when claims may. Unset: requests.* topics follow the rules.
	RequestAccess func(ctx context.Context, id string, claims map[string]any) error
	// MaxFrame bounds an inbound frame; larger ones close the connection with 1009.
	// Default 64 KiB.
	MaxFrame int
	// MaxSubscriptions bounds the topics one connection subscribes to; default 128.
	MaxSubscriptions int
	// MaxConnsPerIP bounds the open connections of one client IP (an IPv6 client: its /64,
	// as ClientIP finds it); beyond it the upgrade is refused with 429. Default 256; a
	// negative value is no cap.
	MaxConnsPerIP int
	// MaxConns bounds the open connections of the hub; beyond it a connection is upgraded
	// and closed at once with 1013 (try again later), which a browser can see where it cannot
	// see an HTTP status. Default 10,000; a negative value is no cap.
	MaxConns int
	// QueueMessages and QueueBytes bound a connection's send queue; a client whose queue
	// overflows is closed with 4008. Defaults 1024 frames and 1 MiB.
	QueueMessages, QueueBytes int
	// PingInterval is how often the server pings; default 25s. IdleTimeout closes a client
	// that sent nothing (not even a pong) for that long; default 60s.
	PingInterval, IdleTimeout time.Duration
	// WriteTimeout bounds one write to a client; a write that takes longer closes the
	// client as slow. Default 10s.
	WriteTimeout time.Duration
	// CloseWait is how long the server waits for the client's answer to a close; default 2s.
	CloseWait time.Duration
	// AuthWait is how long a connection without a token in its URL waits for its first frame
	// before the connect function runs: when that frame is an auth, the function runs after
	// the token is verified. Default 1s.
	AuthWait time.Duration
	// MaxRPCs bounds the rpc calls of one connection in flight; more wait their turn (the
	// connection's later frames wait with them). Default 32.
	MaxRPCs int
	// Meter creates the hub's metrics; default a no-op meter.
	Meter metric.Meter
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxFrame <= 0 {
		c.MaxFrame = 64 << 10
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 128
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.QueueMessages <= 0 {
		c.QueueMessages = 1024
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 1 << 20
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.CloseWait <= 0 {
		c.CloseWait = 2 * time.Second
	}
	if c.AuthWait <= 0 {
		c.AuthWait = time.Second
	}
	if c.MaxRPCs <= 0 {
		c.MaxRPCs = 32
	}
	if c.Meter == nil {
		c.Meter = noop.NewMeterProvider().Meter("edgefn/ws")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// The connection caps of a Config that sets none (docs/websocket.md).
const (
	DefaultMaxConnsPerIP = 256
	DefaultMaxConns      = 10_000
)

// Hub owns the WebSocket connections of one gateway node.
type Hub struct {
	cfg      Config
	registry registry
	rules    atomic.Pointer[[]*manifest.TopicRule]
	funcs    atomic.Pointer[wsFuncs]

	// noDirect leaves every frame to the connection's writer (no wire.tryWrite); for the
	// benchmark that compares the two.
	noDirect bool

	// limit counts the open connections against MaxConnsPerIP and MaxConns.
	limit *guard.ConnLimit
	// fullLogged is when the hub last logged that it is full (unix nanoseconds), so that a
	// flood of refusals logs once in a while.
	fullLogged atomic.Int64

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	wg      sync.WaitGroup // connection handlers

	connections     metric.Int64UpDownCounter
	publications    metric.Int64Counter
	slowDisconnects metric.Int64Counter
	calls           metric.Int64Counter
	callAttrs       sync.Map // callKey → metric.AddOption of its series
}

// New validates cfg and builds the hub. The hub is a [triggers.TopicListener]: it hears
// publications once its owner registers it with cfg.Topics.ListenTopics.
func New(cfg Config) (*Hub, error) {
	if cfg.Topics == nil {
		return nil, errors.New("ws: a topics backend is required")
	}
	cfg.setDefaults()
	h := &Hub{cfg: cfg, conns: map[*conn]struct{}{}, limit: guard.NewConnLimit(cfg.MaxConnsPerIP, cfg.MaxConns)}
	h.registry.init()
	var err error
	m := cfg.Meter
	if h.connections, err = m.Int64UpDownCounter("edgefn_ws_connections",
		metric.WithDescription("Open WebSocket connections.")); err != nil {
		return nil, err
	}
	if h.publications, err = m.Int64Counter("edgefn_ws_publications",
		metric.WithDescription("Publications delivered to WebSocket topics with subscribers on this node.")); err != nil {
		return nil, err
	}
	if h.slowDisconnects, err = m.Int64Counter("edgefn_ws_slow_disconnects",
		metric.WithDescription("WebSocket clients closed with 4008 because they did not keep up.")); err != nil {
		return nil, err
	}
	if h.calls, err = m.Int64Counter("edgefn_ws_function_calls",
		metric.WithDescription("Invocations of websocket functions, by function, event (publish, connect, subscribe, rpc, disconnect) and outcome.")); err != nil {
		return nil, err
	}
	// Series are exported from zero, not from their first event.
	h.connections.Add(context.Background(), 0)
	h.publications.Add(context.Background(), 0)
	h.slowDisconnects.Add(context.Background(), 0)
	empty := []*manifest.TopicRule{}
	h.rules.Store(&empty)
	h.funcs.Store(&wsFuncs{})
	return h, nil
}

// SetRules replaces the topic rules; connections use them from their next operation.
func (h *Hub) SetRules(rules []*manifest.TopicRule) {
	rules = slices.Clone(rules)
	h.rules.Store(&rules)
}

var (
	_ dispatch.Notifier            = (*Hub)(nil)
	_ dispatch.NotificationChecker = (*Hub)(nil)
)

// ErrInvalidPublication is wrapped by the errors of Notify and CheckNotification for a
// publication that is refused for what it is, whenever it is sent: its topic is malformed,
// longer than manifest.MaxTopicLen or under the reserved requests. prefix, or its data is not
// UTF-8 JSON (docs/websocket.md).
var ErrInvalidPublication = errors.New("invalid publication")

// Notify publishes data (JSON) to topic: the dispatch.Notifier of functions' effects, and the
// admin API's publish. What CheckNotification refuses is not published.
func (h *Hub) Notify(ctx context.Context, topic string, data []byte) error {
	if err := h.CheckNotification(topic, data); err != nil {
		return err
	}
	_, err := h.cfg.Topics.PublishTopic(ctx, topic, data)
	return err
}

// CheckNotification reports (an error wrapping ErrInvalidPublication) why Notify would refuse
// topic and data, or nil. The requests. prefix is reserved: only the gateway's async replies,
// which do not come through here, publish there, so that no function or admin can put a
// forged reply before the real one (docs/async.md). Data must be UTF-8: a browser closes its
// connection on a frame that is not, and the topic's history would send it again on every
// resume.
func (h *Hub) CheckNotification(topic string, data []byte) error {
	if p := topicProblem(topic); p != "" {
		return fmt.Errorf("%w: %s", ErrInvalidPublication, p)
	}
	if reservedTopic(topic) {
		return fmt.Errorf("%w: %s: requests.* carries async replies only", ErrInvalidPublication, topic)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: the notification to %s is not UTF-8", ErrInvalidPublication, topic)
	}
	if !json.Valid(data) {
		return fmt.Errorf("%w: the notification to %s is not JSON", ErrInvalidPublication, topic)
	}
	return nil
}

// Close sends 1001 to every client and waits (up to ctx) until their connections ended.
// New connections are refused from then on.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	for c := range h.conns {
		c.out.close(CloseGoingAway, "server going away", false)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		for c := range h.conns {
			c.abort()
		}
		h.mu.Unlock()
		return ctx.Err()
	}
}

// slowDisconnect counts and logs a client closed for not keeping up. The caller already
// made its queue close with 4008 (or aborted it).
func (h *Hub) slowDisconnect(c *conn) {
	h.slowDisconnects.Add(context.Background(), 1)
	h.cfg.Logger.Warn("websocket client too slow; closed", "ip", c.ip, "code", CloseSlow)
}

// register adds a connection; false when the hub is closing.
func (h *Hub) register(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.connections.Add(context.Background(), 1)
	return true
}

func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.connections.Add(context.Background(), -1)
	h.wg.Done()
}

// topicProblem says what is wrong with a topic a client, function or admin names; "" when
// nothing is.
func topicProblem(topic string) string {
	if len(topic) > manifest.MaxTopicLen {
		return "topic is longer than " + strconv.Itoa(manifest.MaxTopicLen) + " bytes"
	}
	if !manifest.ValidTopic(topic) {
		return "invalid topic " + quote(topic) + ": dot-separated segments of [A-Za-z0-9_-]"
	}
	return ""
}

// reservedTopic reports whether topic is under requests., where only async replies go.
func reservedTopic(topic string) bool {
	return strings.HasPrefix(topic, async.TopicPrefix)
}

// isRequestTopic reports whether topic is requests.{id} and returns the id.
func isRequestTopic(topic string) (string, bool) {
	id, ok := strings.CutPrefix(topic, async.TopicPrefix)
	return id, ok && id != "" && !strings.Contains(id, ".")
}
