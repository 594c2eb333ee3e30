package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/gateway"
	"github.com/edgefn/edgefn/gateway/async"
	"github.com/edgefn/edgefn/gateway/auth"
	"github.com/edgefn/edgefn/gateway/guard"
	"github.com/edgefn/edgefn/gateway/metrics"
	"github.com/edgefn/edgefn/gateway/ws"
	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/dispatch"
)

// asDispatch hands the deployed functions to the trigger manager.
func asDispatch(fns []*runtime.Function) []dispatch.Function {
	out := make([]dispatch.Function, len(fns))
	for i, f := range fns {
		out[i] = f
	}
	return out
}

// defaultNodeID is the host name and process ID: unique among live nodes.
func defaultNodeID() string {
	h, err := os.Hostname()
	if err != nil {
		h = "node"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// serveOptions are the flags of `edgefn serve`.
type serveOptions struct {
	listen       string
	manifests    []string
	dataDir      string
	adminToken   string
	jwtSecret    string
	jwtPublicKey string
	jwksURL      string
	jwksRefresh  time.Duration
	jwtIssuer    string
	jwtAudience  string
	bodyLimit    string
	grace        time.Duration
	logLevel     string
	nodeID       string
	redis        string
	amqp         string
	streamMaxLen int64
	origins      []string
	static       string
	topicHistory int
	topicTTL     time.Duration
	replyTTL     time.Duration

	corsOrigins     []string
	corsMethods     []string
	corsHeaders     []string
	corsCredentials bool
	corsMaxAge      time.Duration
	rateLimit       string
	rateBurst       int
	wsConnectRate   string
	wsConnectBurst  int
	trustedProxies  []string
	readTimeout     time.Duration
	writeTimeout    time.Duration
	idleTimeout     time.Duration
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway and the functions of the given manifests",
		Args:  exactArgs(),
		// main cancels the context on SIGTERM or SIGINT.
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", ":8080", "address to listen on")
	f.StringArrayVar(&o.manifests, "manifests", nil, "manifest file or folder to deploy at start-up (repeatable)")
	f.StringVar(&o.dataDir, "data-dir", ".edgefn", "folder for deployed functions")
	f.StringVar(&o.adminToken, "admin-token", "", "bearer token of the admin API (none: loopback clients only)")
	f.StringVar(&o.jwtSecret, "jwt-secret", "", "HS256 secret verifying JWTs of auth: jwt routes")
	f.StringVar(&o.jwtPublicKey, "jwt-public-key", "", "PEM file of the RSA or EC public key verifying JWTs")
	f.StringVar(&o.jwksURL, "jwks-url", "", "URL of a JSON Web Key Set verifying JWTs (fetched at start, refreshed)")
	f.DurationVar(&o.jwksRefresh, "jwks-refresh", 15*time.Minute, "how often the --jwks-url key set is fetched again")
	f.StringVar(&o.jwtIssuer, "jwt-issuer", "", "required JWT issuer")
	f.StringVar(&o.jwtAudience, "jwt-audience", "", "required JWT audience")
	f.StringVar(&o.bodyLimit, "body-limit", "4MiB", "largest request body of a function call")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "how long SIGTERM waits for in-flight work")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.redis, "redis", "", "Redis URL for streams (also EDGEFN_REDIS_URL); default embedded")
	f.StringVar(&o.amqp, "amqp", "", "RabbitMQ URL for queues (also EDGEFN_AMQP_URL); default embedded")
	f.Int64Var(&o.streamMaxLen, "stream-max-len", 100_000, "streams are trimmed to about this many entries (XADD MAXLEN ~)")
	f.StringSliceVar(&o.origins, "allowed-origins", nil, "Origins browsers may open /ws from, comma-separated; * for any (default: same origin only)")
	f.StringVar(&o.static, "static", "", "folder whose files are served for GET requests no route takes (e.g. examples/web)")
	f.IntVar(&o.topicHistory, "topic-history", 100, "publications each WebSocket topic keeps for resuming subscribers")
	f.DurationVar(&o.topicTTL, "topic-history-ttl", 5*time.Minute, "how long WebSocket topics keep publications for resuming subscribers")
	f.DurationVar(&o.replyTTL, "reply-ttl", 5*time.Minute, "how long async requests and their replies are kept")
	f.StringVar(&o.nodeID, "node-id", defaultNodeID(), "this node's name in a cluster (stream consumer names)")
	f.StringSliceVar(&o.corsOrigins, "cors-origins", nil, "Origins allowed to call function routes from browsers, comma-separated; * for any (default: CORS off)")
	f.StringSliceVar(&o.corsMethods, "cors-methods", nil, "methods CORS preflights allow (default GET,HEAD,POST,PUT,PATCH,DELETE)")
	f.StringSliceVar(&o.corsHeaders, "cors-headers", nil, "request headers CORS preflights allow (default Authorization,Content-Type,Prefer,X-Request-ID)")
	f.BoolVar(&o.corsCredentials, "cors-credentials", false, "let browsers send credentials (cookies) with CORS calls; needs listed origins")
	f.DurationVar(&o.corsMaxAge, "cors-max-age", 10*time.Minute, "how long browsers may cache a CORS preflight")
	f.StringVar(&o.rateLimit, "rate-limit", "", "function calls per client IP, e.g. 100/s or 6000/m (default: no limit)")
	f.IntVar(&o.rateBurst, "rate-burst", 0, "burst of --rate-limit (default: one unit's worth, e.g. 100 for 100/s)")
	f.StringVar(&o.wsConnectRate, "ws-connect-rate", "", "WebSocket connects per client IP, e.g. 10/s (default: no limit)")
	f.IntVar(&o.wsConnectBurst, "ws-connect-burst", 0, "burst of --ws-connect-rate (default: one unit's worth)")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxies", nil, "proxies (IPs or CIDRs) whose X-Forwarded-For names the client IP (default: none; the TCP peer is the client)")
	f.DurationVar(&o.readTimeout, "read-timeout", 60*time.Second, "longest time to read a request, headers and body (cuts slow clients)")
	f.DurationVar(&o.writeTimeout, "write-timeout", 60*time.Second, "longest time to write a response")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	return cmd
}

// serve runs until ctx ends, then shuts down gracefully: it stops accepting, lets in-flight
// work finish within the grace period, then stops the plugins.
func serve(ctx context.Context, o *serveOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	bodyLimit, err := parseSize(o.bodyLimit)
	if err != nil {
		return fmt.Errorf("--body-limit: %w", err)
	}
	// Validate everything before starting anything: a bad manifest deploys nothing.
	var set *manifest.Set
	if len(o.manifests) > 0 {
		if set, err = manifest.LoadPaths(o.manifests...); err != nil {
			return err
		}
	}
	sec, err := newSecurity(o)
	if err != nil {
		return err
	}
	verifier, err := auth.New(auth.Config{
		Secret: o.jwtSecret, PublicKeyFile: o.jwtPublicKey, JWKSURL: o.jwksURL, JWKSRefresh: o.jwksRefresh,
		Issuer: o.jwtIssuer, Audience: o.jwtAudience, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	if err := verifier.Start(ctx); err != nil { // a JWKS: the first fetch
		return fmt.Errorf("jwt: %w", err)
	}
	defer verifier.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	defer ln.Close()

	be, err := openBackends(ctx, o, logger)
	if err != nil {
		return err
	}
	defer be.close()
	mx, err := metrics.New()
	if err != nil {
		return err
	}
	stopTracing, err := telemetry.Setup(ctx, version)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(sctx)
	}()
	effects := &dispatch.Effects{Queues: be.queues, Streams: be.streams}
	asyncs, err := async.New(async.Config{
		Store: be.replies, Queues: be.queues, Topics: be.topics, TTL: o.replyTTL,
		Meter: mx.Meter("github.com/edgefn/edgefn/gateway/async"), Logger: logger,
	})
	if err != nil {
		return err
	}
	hub, err := ws.New(ws.Config{
		Topics: be.topics, Auth: verifier, AllowedOrigins: o.origins, Effects: effects, RequestAccess: asyncs.Access,
		Meter: mx.Meter("github.com/edgefn/edgefn/gateway/ws"), Logger: logger,
	})
	if err != nil {
		return err
	}
	if set != nil {
		hub.SetRules(set.Topics)
	}
	effects.Notifier = hub // notifications from functions go to the WebSocket topics
	triggerManager := dispatch.NewManager(dispatch.ManagerConfig{
		Queues: be.queues, Streams: be.streams, Effects: effects, Async: asyncs, NodeID: o.nodeID, Logger: logger,
		Meter: mx.Meter("github.com/edgefn/edgefn/triggers"),
	})

	// The gateway leaves the plugins their share of the processors while it runs any; GOMAXPROCS
	// goes back to Go's default when it stops.
	procs := newProcessors(os.LookupEnv, logger)
	defer procs.restore()
	var srv *gateway.Server
	host, err := runtime.NewHost(runtime.Config{
		DataDir: o.dataDir, Logger: logger, Drain: o.grace, Meter: mx.Meter("github.com/edgefn/edgefn/runtime"),
		Registerer: mx.Registerer(),
		OnChange: func(fns []*runtime.Function) {
			procs.update(len(fns) > 0)
			srv.SetFunctions(fns)
			dfns := asDispatch(fns)
			triggerManager.Update(dfns)
			hub.SetFunctions(dfns)
		},
	})
	if err != nil {
		return err
	}
	srv, err = gateway.New(gateway.Config{
		Host: host, Auth: verifier, AdminToken: o.adminToken, BodyLimit: bodyLimit,
		DataDir: o.dataDir, Version: version, Logger: logger, Effects: effects,
		WS: hub, Async: asyncs, Metrics: mx, StaticDir: o.static,
		ClientIP: sec.clientIP, RateLimit: sec.rateLimit, WSConnectLimit: sec.wsConnects, CORS: sec.cors,
		ReadTimeout: o.readTimeout, WriteTimeout: o.writeTimeout, IdleTimeout: o.idleTimeout,
		Readiness: func(ctx context.Context) []string {
			return append(be.notReady(ctx), triggerManager.NotReady()...)
		},
	})
	if err != nil {
		return err
	}
	managerCtx, stopManager := context.WithCancel(context.Background())
	// One fan-out connection feeds the hub (subscribers) and the async service (waiters).
	if err := be.topics.ListenTopics(managerCtx, triggers.TopicListeners{hub, asyncs}); err != nil {
		stopManager()
		return fmt.Errorf("listen to websocket topics: %w", err)
	}
	go triggerManager.Run(managerCtx)
	// Shutdown (docs/guarantees.md): stop taking HTTP calls and deliveries, let what is in flight
	// finish, close the WebSockets with 1001, then stop the functions.
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.grace)
		defer cancel()
		// Fiber's shutdown also waits for the upgraded WebSocket connections, so the hub
		// closes them (1001) meanwhile rather than after.
		wsClosed := make(chan struct{})
		go func() {
			defer close(wsClosed)
			if err := hub.Close(sctx); err != nil {
				logger.Warn("websocket clients did not close in time", "error", err)
			}
		}()
		if err := srv.Shutdown(sctx); err != nil {
			logger.Warn("http shutdown", "error", err)
		}
		<-wsClosed
		stopManager()
		triggerManager.Wait()
		if err := host.Close(sctx); err != nil {
			logger.Warn("functions did not drain in time", "error", err)
		}
	}
	if err := host.Restore(ctx); err != nil {
		logger.Error("some stored functions did not start", "error", err)
	}
	if set != nil {
		if err := deployManifests(ctx, host, set, o.dataDir, logger); err != nil {
			shutdown()
			return err
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("edgefn serving", "addr", ln.Addr().String(), "version", version, "data_dir", o.dataDir,
		"functions", len(host.Functions()))
	select {
	case err := <-errc:
		shutdown()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", o.grace.String())
	shutdown()
	logger.Info("stopped")
	return nil
}

// security is what the CORS, rate limit and proxy flags configure.
type security struct {
	clientIP              *guard.ClientIP
	rateLimit, wsConnects *guard.Limiter
	cors                  *guard.CORS
}

// newSecurity checks the CORS, rate limit, proxy and timeout flags.
func newSecurity(o *serveOptions) (*security, error) {
	var sec security
	var err error
	if sec.clientIP, err = guard.NewClientIP(o.trustedProxies); err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if sec.rateLimit, err = newLimiter(o.rateLimit, o.rateBurst); err != nil {
		return nil, fmt.Errorf("--rate-limit: %w", err)
	}
	if sec.wsConnects, err = newLimiter(o.wsConnectRate, o.wsConnectBurst); err != nil {
		return nil, fmt.Errorf("--ws-connect-rate: %w", err)
	}
	sec.cors, err = guard.NewCORS(guard.CORSConfig{
		Origins: o.corsOrigins, Methods: o.corsMethods, Headers: o.corsHeaders,
		Credentials: o.corsCredentials, MaxAge: o.corsMaxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("--cors-*: %w", err)
	}
	for name, d := range map[string]time.Duration{"--read-timeout": o.readTimeout, "--write-timeout": o.writeTimeout, "--idle-timeout": o.idleTimeout} {
		if d <= 0 {
			return nil, fmt.Errorf("%s %v: must be > 0", name, d)
		}
	}
	return &sec, nil
}

// newLimiter returns the per-client limiter of a rate flag, nil when it is empty.
func newLimiter(spec string, burst int) (*guard.Limiter, error) {
	r, err := guard.ParseRate(spec, burst)
	if err != nil || !r.Enabled() {
		return nil, err
	}
	return guard.NewLimiter(r, 0)
}

// deployManifests deploys the start-up manifests, building those that name a package. A
// function already current with the same manifest and binary keeps running as it is.
func deployManifests(ctx context.Context, host *runtime.Host, set *manifest.Set, dataDir string, logger *slog.Logger) error {
	var errs []error
	for _, m := range set.Functions {
		binary := m.Handler
		if m.Build != "" {
			binary = filepath.Join(dataDir, "build", m.Name)
			if err := os.MkdirAll(filepath.Dir(binary), 0o700); err != nil {
				return err
			}
			if err := runtime.Build(ctx, m.Build, binary); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: build: %w", m.File, m.Line, err))
				continue
			}
		}
		res, err := host.Deploy(ctx, m, binary)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", m.File, m.Line, err))
			continue
		}
		logger.Info("manifest function ready", "function", res.Name, "version", res.Version, "unchanged", res.Unchanged)
	}
	return errors.Join(errs...)
}
