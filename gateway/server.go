package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/edgefn/edgefn/gateway/async"
	"github.com/edgefn/edgefn/gateway/auth"
	"github.com/edgefn/edgefn/gateway/guard"
	"github.com/edgefn/edgefn/gateway/metrics"
	"github.com/edgefn/edgefn/gateway/router"
	"github.com/edgefn/edgefn/gateway/ws"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/dispatch"
)

// Config configures a Server. Zero values mean the defaults given.
type Config struct {
	// Host runs the functions; required.
	Host *runtime.Host
	// Deployer makes the admin API's deploys, rollbacks and deletes; default Host. With a
	// shared registry (docs/cluster.md) it is the registry's, which every node follows.
	Deployer Deployer
	// Auth verifies JWTs for `auth: jwt` routes; nil answers every such route with 401.
	Auth *auth.Verifier
	// AdminToken is the bearer token of the admin API; required (docs/http.md#admin-api).
	AdminToken string
	// AdminHosts are the host names, beyond IP literals and localhost, that an admin request's
	// Host may name (the name of the admin API's listener among them); none: no name.
	AdminHosts []string
	// AdminViaProxy lets admin requests come from a trusted proxy or carry forwarding headers;
	// false refuses them (403).
	AdminViaProxy bool
	// AdminApart serves the admin API on a listener of its own (ServeAdmin) and not beside the
	// functions; false serves it on the listener of Serve.
	AdminApart bool
	// BodyLimit bounds a function call's request body; default 4 MiB. Larger bodies get 413.
	BodyLimit int
	// UploadLimit bounds an admin deploy's upload (manifest and binary); default 512 MiB.
	UploadLimit int64
	// ReadTimeout, WriteTimeout and IdleTimeout are the server's connection timeouts; defaults
	// 60s, 60s and 120s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// DataDir is where uploads are staged; default ".edgefn".
	DataDir string
	// Effects carries out what functions emit and notify, and the admin API's publish; nil
	// refuses both (the function call fails rather than losing its effects).
	Effects *dispatch.Effects
	// Readiness, when set, lists what is not ready beyond the functions (brokers, triggers);
	// /readyz answers 503 while it lists anything.
	Readiness func(ctx context.Context) []string
	// Async runs async calls (docs/async.md) and serves GET /requests/{id}; nil answers
	// `Prefer: respond-async` synchronously and `async: always` routes with 503.
	Async *async.Service
	// WS serves GET /ws; nil answers it with 404.
	WS *ws.Hub
	// Metrics is served at GET /metrics; nil answers it with 404.
	Metrics *metrics.Metrics
	// StaticDir, when set, is served for GET and HEAD requests that match no route (an
	// app's pages and scripts, such as examples/web).
	StaticDir string
	// ClientIP finds the client IP that the rate limits count by; nil: the TCP peer.
	ClientIP *guard.ClientIP
	// RateLimit, when set, limits function calls (the HTTP trigger routes) and async reply
	// fetches (GET /requests/{id}) per client IP, in one budget; over it, 429 with
	// Retry-After.
	RateLimit *guard.Limiter
	// WSConnectLimit, when set, limits WebSocket connects (GET /ws) per client IP.
	WSConnectLimit *guard.Limiter
	// CORS, when set, answers preflights and marks responses for the function routes and the
	// async replies (GET /requests/{id}); not for the admin API, /ws or the health endpoints.
	CORS *guard.CORS
	// Nodes serves GET /admin/v1/nodes; nil answers it with 404.
	Nodes NodeLister
	// Rules deploys and rolls back the topic rules (docs/http.md); nil: the admin API's
	// /topics answers 503.
	Rules TopicRules
	// Schedules runs, pauses and resumes schedules, and finds their dead letters; nil
	// answers those endpoints with 501.
	Schedules ScheduleControl
	// ClusterLogs, when set, is where GET /admin/v1/functions/{name}/logs reads: the lines of
	// every node (docs/cluster.md#logs); nil reads the node's own.
	ClusterLogs LogReader
	// Version is reported by the admin API.
	Version string
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Server is the gateway's HTTP server.
type Server struct {
	cfg Config
	app *fiber.App
	// adminApp serves the admin API when it has a listener of its own; nil otherwise.
	adminApp *fiber.App
	admin    *adminGuard
	routes   atomic.Pointer[router.Table[*route]]
	// shuttingDown makes /readyz fail while in-flight work finishes.
	shuttingDown atomic.Bool
	// stopping ends long-lived responses (log follows) at shutdown.
	stopping context.Context
	stop     context.CancelFunc
}

// New validates cfg and builds the server; it listens on nothing until Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Host == nil {
		return nil, errors.New("gateway: a runtime host is required")
	}
	if cfg.Deployer == nil {
		cfg.Deployer = cfg.Host
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 4 << 20
	}
	if cfg.UploadLimit <= 0 {
		cfg.UploadLimit = 512 << 20
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.DataDir == "" {
		cfg.DataDir = ".edgefn"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg}
	var err error
	if s.admin, err = newAdminGuard(&cfg); err != nil {
		return nil, err
	}
	s.stopping, s.stop = context.WithCancel(context.Background())
	empty, _ := router.New[*route](nil)
	s.routes.Store(empty)
	s.app = s.newApp()
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	if cfg.Metrics != nil {
		s.app.Get("/metrics", adaptor.HTTPHandler(cfg.Metrics.Handler()))
	}
	if cfg.WS != nil {
		if cfg.WSConnectLimit != nil {
			cfg.WS.Mount(s.app, cfg.WSConnectLimit.Middleware(cfg.ClientIP, "WebSocket connects"))
		} else {
			cfg.WS.Mount(s.app)
		}
	}
	// The function routes and their async replies: CORS first, so that a 429 is readable by
	// the page; then the rate limit, one budget for both (a reply fetch costs what a call
	// does, so polling cannot outrun the limit); then the handlers.
	var fnChain []any
	var replyChain []fiber.Handler
	if cfg.CORS != nil {
		fnChain = append(fnChain, cfg.CORS.Handler())
		replyChain = append(replyChain, cfg.CORS.Handler())
	}
	if cfg.RateLimit != nil {
		limit := cfg.RateLimit.Middleware(cfg.ClientIP, "function calls and reply fetches")
		fnChain = append(fnChain, limit)
		replyChain = append(replyChain, limit)
	}
	s.app.Get("/requests/:id", append(replyChain, s.getRequest)...)
	if cfg.AdminApart {
		s.adminApp = s.newApp()
		s.mountAdmin(s.adminApp)
		// The replies of async admin invokes (edgefn invoke --wait), at the Location they name.
		s.adminApp.Get("/requests/:id", s.getRequest)
		s.adminApp.Use(func(c *fiber.Ctx) error { return notFound(c, c.Path()) })
	} else {
		s.mountAdmin(s.app)
	}
	s.app.Use(append(fnChain, fiber.Handler(s.invoke))...)
	if cfg.StaticDir != "" {
		s.app.Static("/", cfg.StaticDir, fiber.Static{Index: "index.html"})
		s.app.Use(func(c *fiber.Ctx) error { return notFound(c, string(c.Request().URI().Path())) })
	}
	return s, nil
}

// newApp is a Fiber app with the gateway's settings and its first handlers (request IDs,
// header checks).
func (s *Server) newApp() *fiber.App {
	cfg := s.cfg
	app := fiber.New(fiber.Config{
		// The function body limit is enforced per request (readBody), so that admin uploads
		// may be larger: bodies are streamed, never buffered whole before the check.
		BodyLimit:                    cfg.BodyLimit,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		ReadBufferSize:               16 << 10, // bounds the request line and headers: 431 beyond
		DisableStartupMessage:        true,
		ErrorHandler:                 errorHandler,
		AppName:                      "edgefn",
	})
	app.Server().ErrorHandler = s.transportError // in place of fiber's, which quotes the request
	app.Use(s.requestID, checkHeaders)
	return app
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.app.Listener(ln)
}

// ServeAdmin answers admin requests on ln until Shutdown; the server must have been built with
// AdminApart.
func (s *Server) ServeAdmin(ln net.Listener) error {
	if s.adminApp == nil {
		return errors.New("gateway: the admin API is served beside the functions (AdminApart is false)")
	}
	return s.adminApp.Listener(ln)
}

// Shutdown stops accepting connections and waits (up to ctx) for in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shuttingDown.Store(true)
	s.stop()
	var adminErr error
	if s.adminApp != nil {
		adminErr = s.adminApp.ShutdownWithContext(ctx)
	}
	return errors.Join(s.app.ShutdownWithContext(ctx), adminErr)
}

// Handler exposes the Fiber app, for tests and benchmarks that drive it in-process.
func (s *Server) Handler() *fiber.App { return s.app }

const localRequestID = "edgefn.requestID"

// requestID gives every request an ID (the caller's X-Request-ID when it is sane) and echoes it.
func (s *Server) requestID(c *fiber.Ctx) error {
	rid := c.Get(fiber.HeaderXRequestID)
	if !saneRequestID(rid) {
		rid = id.Unique()
	} else {
		rid = string([]byte(rid)) // the header's memory is reused after the request
	}
	c.Locals(localRequestID, rid)
	c.Set(fiber.HeaderXRequestID, rid)
	return c.Next()
}

// checkHeaders refuses (400) a request whose header names are not tokens or whose values hold
// control characters other than tab (NUL, escape sequences, ...): they would reach functions,
// and their logs, as they came. Fasthttp already refuses CR and LF where they do not belong.
// A request framed both by Content-Length and by Transfer-Encoding is refused too, and its
// connection closed: a proxy in front may have framed it by the other header, so what follows
// on the connection could be a request smuggled past it (RFC 9112, 6.3).
func checkHeaders(c *fiber.Ctx) error {
	if c.Request().Header.ContentLength() == -1 && hasHeaderLine(c.Request().Header.RawHeaders(), "Content-Length") {
		c.Context().SetConnectionClose()
		return sendError(c, fiber.StatusBadRequest, "bad_request", "a request may not carry both Content-Length and Transfer-Encoding")
	}
	bad := ""
	c.Request().Header.VisitAll(func(k, v []byte) {
		if bad == "" && (!validHeaderName(k) || !validHeaderValue(v)) {
			bad = "a request header has a malformed name or a control character in its value"
		}
	})
	if bad != "" {
		return sendError(c, fiber.StatusBadRequest, "bad_request", bad)
	}
	return c.Next()
}

// hasHeaderLine reports whether the raw header block names the header name (in any case).
func hasHeaderLine(raw []byte, name string) bool {
	for line := range bytes.Lines(raw) {
		k, _, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return true
		}
	}
	return false
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// saneRequestID accepts up to 128 visible ASCII characters, so a caller's ID cannot inject
// anything into logs or headers.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}
