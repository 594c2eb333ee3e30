package async

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
)

// QueuePrefix starts the name of every function's async invocation queue.
const QueuePrefix = "edgefn.async."

// TopicPrefix starts the WebSocket topic of every async request's reply.
const TopicPrefix = "requests."

// ErrForbidden is returned (wrapped) when a caller asks for a request made with another
// subject's token.
var ErrForbidden = errors.New("async request belongs to another subject")

// ErrOtherIP is returned (wrapped) when a caller asks for a request made with a token
// without a subject from another client IP.
var ErrOtherIP = errors.New("async request belongs to another client IP")

// Caller is who makes an async request or asks for one.
type Caller struct {
	// Claims are those of the caller's verified JWT; nil without one.
	Claims map[string]any
	// IP is the caller's client IP, the one the rate limits count by (behind a trusted proxy,
	// from X-Forwarded-For); required to make a request.
	IP string
}

// subject returns the caller's `sub`: a non-empty string, or "".
func (c Caller) subject() string {
	sub, _ := c.Claims["sub"].(string)
	return sub
}

// owner returns the request c makes: its owner (docs/async.md#who-may-see-it) and the scope
// of its Idempotency-Key. A token's subject owns its requests; a token without one names
// nobody, so its requests belong to the client IP, in a scope of their own (a neighbour
// without a token never meets their keys); without a token the ID is the capability, and the
// keys are the client IP's.
func (c Caller) owner(rec *Record) (scope string) {
	switch sub := c.subject(); {
	case sub != "":
		rec.Owner = sub
		return "sub:" + sub
	case c.Claims != nil:
		rec.OwnerIP = c.IP
		return "token-ip:" + c.IP
	}
	return "ip:" + c.IP
}

type clientIPKey struct{}

// WithClientIP returns ctx carrying ip, the client IP of the connection it serves, which
// Access reads: the WebSocket hub puts it on each connection's context.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// Config configures a Service.
type Config struct {
	// Store keeps the requests; required.
	Store Store
	// Queues carries the invocations; required.
	Queues triggers.Queues
	// Topics is the WebSocket fan-out the replies go out on; required. Hearing them (as a
	// TopicListener) wakes this node's GET /requests/{id}?wait= calls, whichever node answered.
	Topics triggers.Topics
	// TTL is how long a request and its reply are kept; default 5 minutes.
	TTL time.Duration
	// Meter creates the metrics; default a no-op meter.
	Meter metric.Meter
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Service accepts async calls, runs them (as the dispatch.AsyncRunner of the trigger
// manager) and answers for their replies.
type Service struct {
	cfg Config

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}

	requests metric.Int64Counter
}

var _ dispatch.AsyncRunner = (*Service)(nil)
var _ triggers.TopicListener = (*Service)(nil)

// New validates cfg. The service is a [triggers.TopicListener]: its owner registers it with
// cfg.Topics.ListenTopics so that replies published on any node wake waiting callers.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Queues == nil || cfg.Topics == nil {
		return nil, errors.New("async: a store, a queue backend and a topics backend are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.Meter == nil {
		cfg.Meter = noop.NewMeterProvider().Meter("edgefn/async")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, waiters: map[string]map[chan struct{}]struct{}{}}
	var err error
	if s.requests, err = cfg.Meter.Int64Counter("edgefn_async_requests",
		metric.WithDescription("Async requests by outcome: accepted, completed (the function answered), failed (it did not)."),
	); err != nil {
		return nil, err
	}
	for _, o := range []string{"accepted", "completed", "failed"} {
		s.requests.Add(context.Background(), 0, metric.WithAttributes(attribute.String("outcome", o)))
	}
	if _, err = cfg.Meter.Int64ObservableGauge("edgefn_async_pending",
		metric.WithDescription("Async requests accepted and not answered yet (in the reply store, all nodes)."),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			n, err := cfg.Store.Pending(ctx)
			if err != nil {
				return err
			}
			o.Observe(n)
			return nil
		})); err != nil {
		return nil, err
	}
	return s, nil
}

// Queue names the queue of function's async invocations (dispatch.AsyncRunner).
func (s *Service) Queue(function string) string { return QueuePrefix + function }

// Submit stores a pending request for ev, made by who with the Idempotency-Key key (""
// for none), and queues its invocation. It returns the request's ID: an earlier one when
// who used the key before for the same call (and then queues nothing), or an error that
// matches ErrKeyReused when for another call.
func (s *Service) Submit(ctx context.Context, function string, ev *event.Event, who Caller, key string) (string, error) {
	if who.IP == "" {
		return "", errors.New("async: submit: the caller's client IP is required")
	}
	rec := &Record{ID: id.New(), Function: function, State: Pending, Created: time.Now().UTC()}
	scope := who.owner(rec)
	rid, created, err := s.cfg.Store.Create(ctx, rec, Key{Scope: scope, Value: key, Call: callOf(function, ev)}, s.cfg.TTL)
	if err != nil || !created {
		return rid, err
	}
	ev.CorrelationID = rid
	data, err := encodeEvent(ev)
	if err == nil {
		err = s.cfg.Queues.PublishQueue(ctx, s.Queue(function), &triggers.Message{
			ID: rid, Type: "edgefn.async", Source: "http", Time: ev.Time, ContentType: "application/json",
			Data: data, CorrelationID: rid, Traceparent: tracectx.Traceparent(ctx),
		})
	}
	if err != nil {
		// Nobody will run it: answer the request with the error, so it does not sit pending.
		_ = s.complete(context.WithoutCancel(ctx), rec, 503, `{"error":{"code":"unavailable","message":"the call could not be queued"}}`)
		return "", fmt.Errorf("async: queue %s: %w", rid, err)
	}
	s.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "accepted")))
	return rid, nil
}

// callOf is the call an Idempotency-Key sent with ev is bound to. The query string is part
// of the path, in a canonical order.
func callOf(function string, ev *event.Event) Call {
	path := ev.Path
	if len(ev.Query) > 0 {
		path += "?" + ev.Query.Encode()
	}
	sum := sha256.Sum256(ev.Data)
	return Call{Function: function, Method: ev.Method, Path: path, BodySHA256: hex.EncodeToString(sum[:])}
}

// Get returns request id for who: ErrNotFound when unknown or expired, ErrForbidden when it
// belongs to another subject, ErrOtherIP when to another client IP.
func (s *Service) Get(ctx context.Context, id string, who Caller) (*Record, error) {
	rec, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case rec.Owner != "" && who.subject() != rec.Owner:
		return nil, ErrForbidden
	case rec.OwnerIP != "" && who.IP != rec.OwnerIP:
		return nil, ErrOtherIP
	}
	return rec, nil
}

// Wait is Get that holds on, up to ctx, while the request is pending. It does not poll the
// store: the reply's publication on requests.{id} wakes it, on whichever node it was made.
func (s *Service) Wait(ctx context.Context, id string, who Caller) (*Record, error) {
	wake := s.addWaiter(id)
	defer s.removeWaiter(id, wake)
	for {
		rec, err := s.Get(ctx, id, who)
		if err != nil || rec.State == Done {
			return rec, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return rec, nil
		}
	}
}

// Access decides whether a WebSocket client with claims may subscribe to requests.{id}; its
// client IP comes from ctx (WithClientIP).
func (s *Service) Access(ctx context.Context, id string, claims map[string]any) error {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	_, err := s.Get(ctx, id, Caller{Claims: claims, IP: ip})
	switch {
	case errors.Is(err, ErrNotFound):
		return errors.New("no such async request (or it expired)")
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrOtherIP):
		return errors.New("the async request belongs to another caller")
	case err != nil:
		s.cfg.Logger.Warn("async store unavailable", "error", err)
		return errors.New("the async request cannot be checked now; try again")
	}
	return nil
}

// Decode rebuilds a queued invocation (dispatch.AsyncRunner).
func (s *Service) Decode(d *triggers.Delivery) (*event.Event, error) {
	return decodeEvent(d.Data, d.CorrelationID, d.Attempt)
}

// Retryable says which failures are tried again: the function's process failing (crash,
// timeout, not ready, overloaded, paused by its breaker) or an error without a status. A
// status the function chose (fn.Errorf in the SDK) is its answer.
func (s *Service) Retryable(err error) bool {
	var rerr *runtime.Error
	if errors.As(err, &rerr) {
		return true
	}
	status, _, _ := runtime.HTTPStatus(err)
	return status >= 500
}

// Complete stores the outcome of a request and publishes it on requests.{id}
// (dispatch.AsyncRunner). A request answered already (a redelivered invocation that ran
// twice) keeps its first reply.
func (s *Service) Complete(ctx context.Context, function string, ev *event.Event, res *event.Result, err error) error {
	rec := &Record{ID: ev.CorrelationID, Function: function}
	outcome := "completed"
	if err != nil {
		outcome = "failed"
		status, code, msg := runtime.HTTPStatus(err)
		rec.Status, rec.Headers = status, map[string]string{"Content-Type": "application/json"}
		rec.Body = errorBody(code, msg, ev.CorrelationID)
	} else {
		rec.Status, rec.Headers, rec.Body = resultReply(res)
	}
	if err := s.store(ctx, rec); err != nil {
		return err
	}
	s.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	return nil
}

// complete answers rec with a JSON error body of the gateway's own.
func (s *Service) complete(ctx context.Context, rec *Record, status int, body string) error {
	rec.Status, rec.Headers, rec.Body = status, map[string]string{"Content-Type": "application/json"}, []byte(body)
	return s.store(ctx, rec)
}

// store completes rec in the store, then publishes it.
func (s *Service) store(ctx context.Context, rec *Record) error {
	err := s.cfg.Store.Complete(ctx, rec.ID, rec.Status, rec.Headers, rec.Body, s.cfg.TTL)
	switch {
	case errors.Is(err, ErrAlreadyDone):
		return nil
	case errors.Is(err, ErrNotFound):
		s.cfg.Logger.Warn("async reply for an expired request dropped", "id", rec.ID, "function", rec.Function)
		return nil
	case err != nil:
		return fmt.Errorf("async: store reply %s: %w", rec.ID, err)
	}
	if _, err := s.cfg.Topics.PublishTopic(ctx, TopicPrefix+rec.ID, replyPublication(rec)); err != nil {
		// The reply is stored: GET /requests/{id} has it. Subscribers and waiters on other
		// nodes learn it from the store when they look again.
		s.cfg.Logger.Warn("async reply stored but not published", "id", rec.ID, "error", err)
		s.wake(rec.ID)
	}
	return nil
}

// Publication wakes the waiters of an async request whose reply was published, on any
// node (triggers.TopicListener).
func (s *Service) Publication(p *triggers.Publication) {
	if id, ok := strings.CutPrefix(p.Topic, TopicPrefix); ok {
		s.wake(id)
	}
}

// Resync wakes every waiter: replies may have been published while the fan-out was down,
// and waiters look in the store again (triggers.TopicListener).
func (s *Service) Resync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range s.waiters {
		for ch := range set {
			signal(ch)
		}
	}
}

func (s *Service) addWaiter(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.waiters[id]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		s.waiters[id] = set
	}
	set[ch] = struct{}{}
	return ch
}

func (s *Service) removeWaiter(id string, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiters[id], ch)
	if len(s.waiters[id]) == 0 {
		delete(s.waiters, id)
	}
}

func (s *Service) wake(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.waiters[id] {
		signal(ch)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
