package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/gateway"
	"github.com/edgefn/edgefn/gateway/async"
	"github.com/edgefn/edgefn/gateway/auth"
	"github.com/edgefn/edgefn/gateway/guard"
	"github.com/edgefn/edgefn/gateway/metrics"
	"github.com/edgefn/edgefn/gateway/ws"
	"github.com/edgefn/edgefn/gateway/ws/presence"
	"github.com/edgefn/edgefn/internal/broker"
	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/runtime/sandbox"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/redis"
)

// asDispatch hands the deployed functions to the trigger manager.
func asDispatch(fns []*runtime.Function) []dispatch.Function {
	out := make([]dispatch.Function, len(fns))
	for i, f := range fns {
		out[i] = f
	}
	return out
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
	maxInstances int
	logLevel     string
	nodeID       string
	cluster      string
	advertise    string
	redis        string
	amqp         string
	// redisTLS and amqpTLS are the CA, client certificate and key files of the brokers.
	redisTLS     broker.TLSFiles
	amqpTLS      broker.TLSFiles
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
	wsMaxConnsPerIP int
	wsMaxConns      int
	trustedProxies  []string
	readTimeout     time.Duration
	writeTimeout    time.Duration
	idleTimeout     time.Duration
	gogc            string
	pluginProcs     int
	sandbox         string
	keepVersions    int

	// adminTokenFile and jwtSecretFile hold the secrets of --admin-token and --jwt-secret.
	adminTokenFile string
	jwtSecretFile  string
	adminListen    string
	adminHosts     []string
	adminViaProxy  bool

	// wsPresenceRefresh is how often this node refreshes its clients' presence entries.
	wsPresenceRefresh time.Duration
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
	f.StringVar(&o.adminToken, "admin-token", "", "bearer token of the admin API (default: generated into DATA_DIR/"+adminTokenFile+")")
	f.StringVar(&o.adminTokenFile, "admin-token-file", "", "file holding the admin token (kept off the command line, which every user can read)")
	f.StringVar(&o.adminListen, "admin-listen", "", "address of a listener of the admin API's own (default: the admin API is on --listen)")
	f.StringSliceVar(&o.adminHosts, "admin-hosts", nil, "host names the admin API answers for, beyond IP addresses, localhost and the listener's host")
	f.BoolVar(&o.adminViaProxy, "admin-via-proxy", false, "let admin requests come from --trusted-proxies or carry forwarding headers")
	f.StringVar(&o.jwtSecret, "jwt-secret", "", "HS256 secret verifying JWTs of auth: jwt routes")
	f.StringVar(&o.jwtSecretFile, "jwt-secret-file", "", "file holding the --jwt-secret")
	f.StringVar(&o.jwtPublicKey, "jwt-public-key", "", "PEM file of the RSA or EC public key verifying JWTs")
	f.StringVar(&o.jwksURL, "jwks-url", "", "URL of a JSON Web Key Set verifying JWTs (fetched at start, refreshed)")
	f.DurationVar(&o.jwksRefresh, "jwks-refresh", 15*time.Minute, "how often the --jwks-url key set is fetched again")
	f.StringVar(&o.jwtIssuer, "jwt-issuer", "", "required JWT issuer")
	f.StringVar(&o.jwtAudience, "jwt-audience", "", "required JWT audience")
	f.StringVar(&o.bodyLimit, "body-limit", "4MiB", "largest request body of a function call")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "how long SIGTERM waits for in-flight work")
	f.IntVar(&o.maxInstances, "max-instances", 0, "most plugin processes the scaler runs on this node (default: sized from the machine's memory)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.redis, "redis", "", "Redis URL for streams, redis:// or rediss:// (TLS), with an ACL user and password if any (also EDGEFN_REDIS_URL); default embedded")
	f.StringVar(&o.amqp, "amqp", "", "RabbitMQ URL for queues, amqp:// or amqps:// (TLS) (also EDGEFN_AMQP_URL); default embedded")
	f.StringVar(&o.redisTLS.CA, "redis-ca", "", "PEM file of the CAs that sign the certificate of a rediss:// Redis (also EDGEFN_REDIS_CA; default: the system's)")
	f.StringVar(&o.redisTLS.Cert, "redis-cert", "", "PEM file of the client certificate for a Redis that asks for one (also EDGEFN_REDIS_CERT); needs --redis-key")
	f.StringVar(&o.redisTLS.Key, "redis-key", "", "PEM file of the key of --redis-cert (also EDGEFN_REDIS_KEY)")
	f.StringVar(&o.amqpTLS.CA, "amqp-ca", "", "PEM file of the CAs that sign the certificate of an amqps:// RabbitMQ (also EDGEFN_AMQP_CA; default: the system's)")
	f.StringVar(&o.amqpTLS.Cert, "amqp-cert", "", "PEM file of the client certificate for a RabbitMQ that asks for one (also EDGEFN_AMQP_CERT); needs --amqp-key")
	f.StringVar(&o.amqpTLS.Key, "amqp-key", "", "PEM file of the key of --amqp-cert (also EDGEFN_AMQP_KEY)")
	f.Int64Var(&o.streamMaxLen, "stream-max-len", 100_000, "streams are trimmed to about this many entries (XADD MAXLEN ~)")
	f.StringSliceVar(&o.origins, "allowed-origins", nil, "Origins browsers may open /ws from, comma-separated; * for any (default: same origin only)")
	f.StringVar(&o.static, "static", "", "folder whose files are served for GET requests no route takes (e.g. examples/web)")
	f.IntVar(&o.topicHistory, "topic-history", 100, "publications each WebSocket topic keeps for resuming subscribers")
	f.DurationVar(&o.topicTTL, "topic-history-ttl", 5*time.Minute, "how long WebSocket topics keep publications for resuming subscribers")
	f.DurationVar(&o.replyTTL, "reply-ttl", 5*time.Minute, "how long async requests and their replies are kept")
	f.StringVar(&o.nodeID, "node-id", "", "this node's stable id in its cluster, 1 to 64 of A-Za-z0-9._- (default: generated once into DATA_DIR/"+cluster.NodeIDFile+")")
	f.StringVar(&o.cluster, "cluster", cluster.DefaultCluster, "name of the cluster of the nodes sharing --redis; its keys are namespaced by it")
	f.IntVar(&o.keepVersions, "keep-versions", cluster.DefaultKeep, "versions of each function the shared registry of --redis keeps for rollback (the current one among them)")
	f.StringVar(&o.advertise, "advertise", "", "HOST:PORT other nodes and the node list show for this node (default: the listen address, its host name when it listens on all interfaces)")
	f.StringSliceVar(&o.corsOrigins, "cors-origins", nil, "Origins allowed to call function routes from browsers, comma-separated; * for any (default: CORS off)")
	f.StringSliceVar(&o.corsMethods, "cors-methods", nil, "methods CORS preflights allow (default GET,HEAD,POST,PUT,PATCH,DELETE)")
	f.StringSliceVar(&o.corsHeaders, "cors-headers", nil, "request headers CORS preflights allow (default Authorization,Content-Type,Prefer,X-Request-ID)")
	f.BoolVar(&o.corsCredentials, "cors-credentials", false, "let browsers send credentials (cookies) with CORS calls; needs listed origins")
	f.DurationVar(&o.corsMaxAge, "cors-max-age", 10*time.Minute, "how long browsers may cache a CORS preflight")
	f.StringVar(&o.rateLimit, "rate-limit", "", "function calls and async reply fetches per client IP, e.g. 100/s or 6000/m (default: no limit)")
	f.IntVar(&o.rateBurst, "rate-burst", 0, "burst of --rate-limit (default: one unit's worth, e.g. 100 for 100/s)")
	f.StringVar(&o.wsConnectRate, "ws-connect-rate", "", "WebSocket connects per client IP, e.g. 10/s (default: no limit)")
	f.IntVar(&o.wsConnectBurst, "ws-connect-burst", 0, "burst of --ws-connect-rate (default: one unit's worth)")
	f.IntVar(&o.wsMaxConnsPerIP, "ws-max-conns-per-ip", ws.DefaultMaxConnsPerIP, "open WebSocket connections per client IP (an IPv6 client: its /64); 429 beyond; 0: no cap")
	f.IntVar(&o.wsMaxConns, "ws-max-conns", ws.DefaultMaxConns, "open WebSocket connections in all; beyond, closed with 1013 (try again later); 0: no cap")
	f.DurationVar(&o.wsPresenceRefresh, "ws-presence-refresh", ws.DefaultPresenceRefresh, "how often a node refreshes its WebSocket clients' presence in Redis; a dead node's clients leave the presence within 3 times this")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxies", nil, "proxies (IPs or CIDRs) whose X-Forwarded-For names the client IP (default: none; the TCP peer is the client)")
	f.DurationVar(&o.readTimeout, "read-timeout", 60*time.Second, "longest time to read a request, headers and body (cuts slow clients)")
	f.DurationVar(&o.writeTimeout, "write-timeout", 60*time.Second, "longest time to write a response")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	f.StringVar(&o.gogc, "gogc", "", "GOGC of the gateway and every plugin, a percentage or off (default: GOGC, else "+defaultGOGC+"); a manifest's env overrides it")
	f.StringVar(&o.sandbox, "sandbox", "on", "on confines every plugin process (a uid or user namespace of its own, private /proc, limits); off runs them unconfined, for local development")
	f.IntVar(&o.pluginProcs, "plugin-gomaxprocs", 0, "GOMAXPROCS of every plugin process (default: half the gateway's, at least 1); a manifest's env overrides it")
	return cmd
}

// serve runs until ctx ends, then shuts down gracefully: it stops accepting, lets in-flight
// work finish within the grace period, then stops the plugins.
func serve(ctx context.Context, o *serveOptions) error {
	a, err := newApp(ctx, o)
	if err != nil {
		return err
	}
	defer a.close()
	return a.run(ctx)
}

// app is `edgefn serve`: the gateway, the function host, the trigger manager and the backends
// they share. newApp builds it; run serves until the context ends; close releases what newApp
// opened.
type app struct {
	o      *serveOptions
	logger *slog.Logger
	set    *manifest.Set // the start-up manifests; nil when none are given
	ln     net.Listener
	be     *backends
	hub    *ws.Hub
	// adminLn is the admin API's own listener (--admin-listen); nil when it shares ln.
	adminLn net.Listener
	// adminToken is the admin API's token, given or generated.
	adminToken string
	asyncs     *async.Service
	manager    *dispatch.Manager
	host       *runtime.Host
	srv        *gateway.Server
	nodes      *cluster.Registry
	// shared is the shared function registry with --redis (docs/cluster.md); nil without.
	shared *cluster.Sync
	// rules are the deployed topic rules: in the registry with --redis, else in the data dir.
	rules *cluster.Rules
	// logs is the cluster's log with --redis (docs/cluster.md#logs), else nil; stopLogs ends
	// its writer once the functions have stopped.
	logs     *cluster.RedisLogs
	stopLogs context.CancelFunc

	// closers release, last first, what newApp opened.
	closers []func()
}

// newApp checks every flag and start-up manifest, then opens the listener and the backends
// and wires the parts together. It deploys nothing and serves nothing; on an error it releases
// what it opened.
func newApp(ctx context.Context, o *serveOptions) (_ *app, err error) {
	a := &app{o: o}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	a.logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tune, err := newTuning(o.gogc, o.pluginProcs, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	bodyLimit, err := parseSize(o.bodyLimit)
	if err != nil {
		return nil, fmt.Errorf("--body-limit: %w", err)
	}
	if err := checkClusterFlags(o); err != nil {
		return nil, err
	}
	// Validate everything before starting anything: a bad manifest deploys nothing.
	if len(o.manifests) > 0 {
		if a.set, err = manifest.LoadPaths(o.manifests...); err != nil {
			return nil, err
		}
	}
	sec, err := newSecurity(o)
	if err != nil {
		return nil, err
	}
	if err := fileSecrets(o); err != nil {
		return nil, err
	}
	if a.adminToken, err = a.resolveAdminToken(); err != nil {
		return nil, err
	}
	if err := a.resolveNodeID(); err != nil {
		return nil, err
	}
	verifier, err := auth.New(auth.Config{
		Secret: o.jwtSecret, PublicKeyFile: o.jwtPublicKey, JWKSURL: o.jwksURL, JWKSRefresh: o.jwksRefresh,
		Issuer: o.jwtIssuer, Audience: o.jwtAudience, Logger: a.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	if err := verifier.Start(ctx); err != nil { // a JWKS: the first fetch
		return nil, fmt.Errorf("jwt: %w", err)
	}
	a.closers = append(a.closers, verifier.Close)
	a.closers = append(a.closers, tune.apply(a.logger))
	if a.ln, err = net.Listen("tcp", o.listen); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = a.ln.Close() })
	if o.adminListen != "" {
		if a.adminLn, err = net.Listen("tcp", o.adminListen); err != nil {
			return nil, fmt.Errorf("--admin-listen: %w", err)
		}
		a.closers = append(a.closers, func() { _ = a.adminLn.Close() })
	}
	if a.be, err = openBackends(ctx, o, a.logger); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.be.close)
	mx, err := metrics.New()
	if err != nil {
		return nil, err
	}
	stopTracing, err := telemetry.Setup(ctx, version)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(sctx)
	})

	if err := a.wire(tune, verifier, sec, mx, bodyLimit); err != nil {
		return nil, err
	}
	return a, nil
}

// checkClusterFlags checks --node-id, --cluster and --advertise, before anything starts.
func checkClusterFlags(o *serveOptions) error {
	var errs []error
	if o.nodeID != "" {
		if err := cluster.ValidName(o.nodeID); err != nil {
			errs = append(errs, fmt.Errorf("--node-id: %w", err))
		}
	}
	if err := cluster.ValidName(o.cluster); err != nil {
		errs = append(errs, fmt.Errorf("--cluster: %w", err))
	}
	if o.advertise != "" {
		if h, p, err := net.SplitHostPort(o.advertise); err != nil || h == "" || p == "" {
			errs = append(errs, fmt.Errorf("--advertise %q: want HOST:PORT", o.advertise))
		}
	}
	return errors.Join(errs...)
}

// resolveNodeID sets the node id, when --node-id is not given, to the one kept in the data
// dir, generated at the first start, so that a restart is the same node.
func (a *app) resolveNodeID() error {
	if a.o.nodeID != "" {
		return nil
	}
	host, _ := os.Hostname()
	id, created, err := cluster.NodeID(a.o.dataDir, host)
	if err != nil {
		return fmt.Errorf("node id: %w", err)
	}
	if created {
		a.logger.Info("node id generated", "node_id", id, "file", filepath.Join(a.o.dataDir, cluster.NodeIDFile))
	}
	a.o.nodeID = id
	return nil
}

// newRegistry is this node's place in the node registry: on Redis with --redis, else alone.
func (a *app) newRegistry() (*cluster.Registry, error) {
	var store cluster.Store
	if a.be.redis != nil {
		s, err := cluster.NewRedisStore(a.be.redis, a.o.cluster)
		if err != nil {
			return nil, err
		}
		store = s
	}
	addr := advertised(a.ln.Addr().String())
	if a.o.advertise != "" {
		addr = a.o.advertise
	}
	adminAddr := addr
	if a.adminLn != nil {
		adminAddr = advertised(a.adminLn.Addr().String())
	}
	return cluster.New(cluster.Config{
		Cluster: a.o.cluster, Store: store, Logger: a.logger,
		Self:       cluster.Node{ID: a.o.nodeID, Address: addr, AdminAddress: adminAddr, Version: version},
		TopicRules: a.rules.Version,
		Functions: func() []runtime.Info {
			fns := a.host.Functions()
			out := make([]runtime.Info, len(fns))
			for i, f := range fns {
				out[i] = f.Info()
			}
			return out
		},
	})
}

// advertised is a listener's address as others can reach it: a host that means every
// interface (0.0.0.0, ::) is replaced by this machine's host name (docs/cluster.md).
func advertised(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil && name != "" {
			return net.JoinHostPort(name, p)
		}
	}
	return addr
}

// wire builds the parts that serve requests and deliveries on what newApp opened: the async
// service, the WebSocket hub, the trigger manager, the function host and the gateway.
func (a *app) wire(tune tuning, verifier *auth.Verifier, sec *security, mx *metrics.Metrics, bodyLimit int) error {
	o := a.o
	var err error
	effects := &dispatch.Effects{Queues: a.be.queues, Streams: a.be.streams}
	a.asyncs, err = async.New(async.Config{
		Store: a.be.replies, Queues: a.be.queues, Topics: a.be.topics, TTL: o.replyTTL,
		Meter: mx.Meter("github.com/edgefn/edgefn/gateway/async"), Logger: a.logger,
	})
	if err != nil {
		return err
	}
	if o.wsPresenceRefresh <= 0 {
		return errors.New("--ws-presence-refresh: must be positive")
	}
	var store presence.Store // nil: in memory
	if a.be.redis != nil {
		ttl := ws.PresenceTTLFactor * o.wsPresenceRefresh
		rs, err := presence.NewRedis(a.be.redis, cluster.RedisPrefix(o.cluster), ttl, a.logger)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, rs.Wait)
		store = rs
	}
	a.hub, err = ws.New(ws.Config{
		Topics: a.be.topics, Auth: verifier, AllowedOrigins: o.origins, Effects: effects, RequestAccess: a.asyncs.Access,
		Meter: mx.Meter("github.com/edgefn/edgefn/gateway/ws"), Logger: a.logger,
		ClientIP: sec.clientIP, MaxConnsPerIP: connCap(o.wsMaxConnsPerIP), MaxConns: connCap(o.wsMaxConns),
		Presence: store, PresenceRefresh: o.wsPresenceRefresh,
	})
	if err != nil {
		return err
	}
	if a.set != nil {
		a.hub.SetRules(a.set.Topics) // until the deployed rules, if any, are read at start
	}
	if a.rules, err = a.newRules(); err != nil {
		return err
	}
	effects.Notifier = a.hub          // notifications from functions go to the WebSocket topics
	var claims dispatch.ScheduleStore // nil: this node alone runs the schedules
	if a.be.redis != nil {
		rc, err := cluster.NewRedisClaims(a.be.redis, o.cluster)
		if err != nil {
			return err
		}
		if rs, ok := a.be.streams.(*redis.Streams); ok { // the runs go with the claims (docs/cluster.md#schedules)
			rc.AppendRuns(rs)
		}
		claims = rc
	}
	a.manager = dispatch.NewManager(dispatch.ManagerConfig{
		Queues: a.be.queues, Streams: a.be.streams, Effects: effects, Async: a.asyncs, NodeID: o.nodeID,
		Logger: a.logger, Meter: mx.Meter("github.com/edgefn/edgefn/triggers"), Claims: claims,
		KeyPrefix: cluster.RedisPrefix(o.cluster),
	})
	// The host calls functionsChanged only from a deploy, rollback or delete, which run once
	// newApp has returned: every part it updates is set by then.
	sb, err := newSandbox(o, a.logger)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, sb.Close)
	hostCfg := runtime.Config{
		DataDir: o.dataDir, Logger: a.logger, Drain: o.grace, MaxInstances: o.maxInstances,
		Meter:      mx.Meter("github.com/edgefn/edgefn/runtime"),
		Registerer: mx.Registerer(), PluginEnv: tune.pluginEnv(), OnChange: a.functionsChanged, Sandbox: sb,
		HostCalls: a.hub, // fn.Presence reads the WebSocket presence
	}
	var clusterLogs gateway.LogReader
	if a.be.redis != nil {
		if a.logs, err = cluster.NewRedisLogs(a.be.redis, o.cluster, o.nodeID, a.logger); err != nil {
			return err
		}
		lctx, stop := context.WithCancel(context.Background())
		a.stopLogs = func() { stop(); a.logs.Wait() }
		go a.logs.Run(lctx)
		a.closers = append(a.closers, a.stopLogs)
		hostCfg.LogSink, clusterLogs = a.logs, a.logs
	}
	a.host, err = runtime.NewHost(hostCfg)
	if err != nil {
		return err
	}
	if a.nodes, err = a.newRegistry(); err != nil {
		return err
	}
	var deployer gateway.Deployer = a.host
	if a.be.redis != nil {
		if a.shared, err = a.newShared(); err != nil {
			return err
		}
		deployer = a.shared
	}
	a.srv, err = gateway.New(gateway.Config{
		Host: a.host, Deployer: deployer, Auth: verifier, BodyLimit: bodyLimit,
		AdminToken: a.adminToken, AdminHosts: a.adminHosts(), AdminViaProxy: o.adminViaProxy, AdminApart: a.adminLn != nil,
		DataDir: o.dataDir, Version: version, Logger: a.logger, Effects: effects,
		WS: a.hub, Async: a.asyncs, Metrics: mx, StaticDir: o.static, Nodes: a.nodes, ClusterLogs: clusterLogs,
		Schedules: a.manager, Rules: a.rules,
		ClientIP: sec.clientIP, RateLimit: sec.rateLimit, WSConnectLimit: sec.wsConnects, CORS: sec.cors,
		ReadTimeout: o.readTimeout, WriteTimeout: o.writeTimeout, IdleTimeout: o.idleTimeout,
		Readiness: func(ctx context.Context) []string {
			out := append(a.be.notReady(ctx), a.manager.NotReady()...)
			if a.shared != nil {
				out = append(out, a.shared.NotReady()...)
			}
			return out
		},
	})
	return err
}

// resolveAdminToken is the admin token: the one given, or with none the one kept in the
// data dir, generated at the first start. Nodes sharing a Redis are one cluster, whose token
// must be the same everywhere: they must be given it.
func (a *app) resolveAdminToken() (string, error) {
	if a.o.adminToken != "" {
		return a.o.adminToken, nil
	}
	if a.o.redis != "" || os.Getenv("EDGEFN_REDIS_URL") != "" {
		return "", errors.New("--redis: nodes sharing a Redis must share one admin token; give it with --admin-token-file (or --admin-token)")
	}
	token, path, created, err := localAdminToken(a.o.dataDir)
	if err != nil {
		return "", err
	}
	if created {
		a.logger.Info("admin token generated", "file", path)
	} else {
		a.logger.Info("admin token read", "file", path)
	}
	return token, nil
}

// adminHosts are the host names the admin API answers for: --admin-hosts and the host of
// its listener's address when that is a name.
func (a *app) adminHosts() []string {
	hosts := a.o.adminHosts
	addr := a.o.listen
	if a.o.adminListen != "" {
		addr = a.o.adminListen
	}
	if h, _, err := net.SplitHostPort(addr); err == nil && h != "" && net.ParseIP(h) == nil {
		hosts = append(slices.Clip(hosts), h)
	}
	return hosts
}

// functionsChanged hands the deployed functions to every part that routes to them.
func (a *app) functionsChanged(fns []*runtime.Function) {
	a.srv.SetFunctions(fns)
	dfns := asDispatch(fns)
	a.manager.Update(dfns)
	a.hub.SetFunctions(dfns)
	a.nodes.Poke()
}

// run starts the trigger manager, brings back the stored functions and deploys the start-up
// manifests, then serves HTTP until ctx ends or the listener fails, and shuts down.
func (a *app) run(ctx context.Context) error {
	managerCtx, stopManager := context.WithCancel(context.Background())
	defer stopManager()
	// One fan-out connection feeds the hub (subscribers) and the async service (waiters).
	if err := a.be.topics.ListenTopics(managerCtx, triggers.TopicListeners{a.hub, a.asyncs}); err != nil {
		return fmt.Errorf("listen to websocket topics: %w", err)
	}
	if err := a.hub.StartPresence(managerCtx); err != nil {
		return fmt.Errorf("listen to websocket presence: %w", err)
	}
	go a.manager.Run(managerCtx)
	a.startRules(ctx)
	// The heartbeat starts at once, so that the node is listed while its functions start.
	a.nodes.Start()
	if a.shared != nil {
		// The shared registry's functions (and the start-up manifests it lacks) start in the
		// background; /readyz says 503 until they have (docs/cluster.md).
		a.shared.Start()
	} else {
		if err := a.host.Restore(ctx); err != nil {
			a.logger.Error("some stored functions did not start", "error", err)
		}
		if a.set != nil {
			if err := deployManifests(ctx, a.host, a.set, a.o.dataDir, a.logger); err != nil {
				a.shutdown(stopManager)
				return err
			}
		}
	}

	errc := make(chan error, 2)
	go func() { errc <- a.srv.Serve(a.ln) }()
	adminAddr := a.ln.Addr().String()
	if a.adminLn != nil {
		adminAddr = a.adminLn.Addr().String()
		go func() { errc <- a.srv.ServeAdmin(a.adminLn) }()
	}
	a.logger.Info("edgefn serving", "addr", a.ln.Addr().String(), "admin_addr", adminAddr, "version", version,
		"node_id", a.o.nodeID, "cluster", a.o.cluster,
		"data_dir", a.o.dataDir, "functions", len(a.host.Functions()))
	select {
	case err := <-errc:
		a.shutdown(stopManager)
		return err
	case <-ctx.Done():
	}
	a.logger.Info("shutting down", "grace", a.o.grace.String())
	a.shutdown(stopManager)
	a.logger.Info("stopped")
	return nil
}

// shutdown stops taking HTTP calls and deliveries, lets what is in flight finish within the
// grace period, closes the WebSockets with 1001, then stops the functions (docs/guarantees.md).
// stopManager ends the trigger manager's deliveries.
func (a *app) shutdown(stopManager func()) {
	sctx, cancel := context.WithTimeout(context.Background(), a.o.grace)
	defer cancel()
	// The node is marked gone in its cluster's list at once, beside the rest: a Redis away
	// delays nothing else (docs/cluster.md).
	nodesClosed := make(chan struct{})
	go func() {
		defer close(nodesClosed)
		if err := a.nodes.Close(sctx); err != nil {
			a.logger.Warn("node registry", "error", err)
		}
	}()
	// Fiber's shutdown also waits for the upgraded WebSocket connections, so the hub closes
	// them (1001) meanwhile rather than after.
	wsClosed := make(chan struct{})
	go func() {
		defer close(wsClosed)
		if err := a.hub.Close(sctx); err != nil {
			a.logger.Warn("websocket clients did not close in time", "error", err)
		}
	}()
	if err := a.srv.Shutdown(sctx); err != nil {
		a.logger.Warn("http shutdown", "error", err)
	}
	<-wsClosed
	if err := a.rules.Close(sctx); err != nil {
		a.logger.Warn("topic rules", "error", err)
	}
	if a.shared != nil {
		if err := a.shared.Close(sctx); err != nil {
			a.logger.Warn("function registry", "error", err)
		}
	}
	stopManager()
	a.manager.Wait()
	a.hub.WaitPresence() // its refreshes end with the manager's context
	if err := a.host.Close(sctx); err != nil {
		a.logger.Warn("functions did not drain in time", "error", err)
	}
	<-nodesClosed
}

// newSandbox checks --sandbox, finds what the kernel allows and says so once.
func newSandbox(o *serveOptions, logger *slog.Logger) (*sandbox.Sandbox, error) {
	if o.sandbox != "on" && o.sandbox != "off" {
		return nil, fmt.Errorf("--sandbox: must be on or off, not %q", o.sandbox)
	}
	sb, err := sandbox.New(sandbox.Config{Off: o.sandbox == "off", DataDir: o.dataDir})
	if err != nil {
		return nil, err
	}
	isolation, refused := sb.Describe()
	switch {
	case o.sandbox == "off":
		logger.Warn("sandbox off: functions run unconfined, as the gateway's user, and can read its secrets (--sandbox=off, for local development only)")
	case !sb.On():
		logger.Warn("sandbox: the kernel refused every mechanism; functions run as the gateway's user and can read its secrets",
			"refused", refused)
	case refused != "":
		logger.Warn("sandbox: the kernel refused part of it", "isolation", isolation, "refused", refused)
	default:
		logger.Info("sandbox", "isolation", isolation)
	}
	return sb, nil
}

// close releases what newApp opened, last first.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
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
	for name, n := range map[string]int{"--ws-max-conns-per-ip": o.wsMaxConnsPerIP, "--ws-max-conns": o.wsMaxConns} {
		if n < 0 {
			return nil, fmt.Errorf("%s %d: must be >= 0 (0: no cap)", name, n)
		}
	}
	for name, d := range map[string]time.Duration{"--read-timeout": o.readTimeout, "--write-timeout": o.writeTimeout, "--idle-timeout": o.idleTimeout} {
		if d <= 0 {
			return nil, fmt.Errorf("%s %v: must be > 0", name, d)
		}
	}
	return &sec, nil
}

// connCap is a ws.Config connection cap from its flag, where 0 is no cap.
func connCap(flag int) int {
	if flag == 0 {
		return -1
	}
	return flag
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
