package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// gateway is one `edgefn serve` started for one measurement, with its own data folder.
type gateway struct {
	srv  *harness.Server
	http *http.Client
	// started is just before the process was started, ready when /healthz and /readyz had
	// both answered 200.
	started, ready time.Time
}

// gatewayConfig is what one gateway serves.
type gatewayConfig struct {
	// name prefixes its folder under the run's temporary folder.
	name string
	// manifest is the YAML of its functions.
	manifest string
	// redis and amqp are the broker URLs it gets; empty leaves that kind embedded.
	redis, amqp string
}

// startGateway starts edgefn with cfg and returns once it reports ready, polling every
// millisecond: the time it became ready is where edgefn's measurements start.
func (b *bench) startGateway(ctx context.Context, cfg gatewayConfig) (*gateway, error) {
	var flags []string
	if cfg.redis != "" {
		flags = append(flags, "--redis", cfg.redis)
	}
	if cfg.amqp != "" {
		flags = append(flags, "--amqp", cfg.amqp)
	}
	g := &gateway{http: &http.Client{Timeout: 5 * time.Second}, started: time.Now()}
	// No checks: Start returns once the process runs, and the finer poll below decides.
	var err error
	serve := harness.Serve{Edgefn: b.edgefn, Dir: b.run.Tmp, Name: cfg.name, Manifest: cfg.manifest, Flags: flags}
	if g.srv, err = serve.Start(ctx); err != nil {
		return nil, err
	}
	if err := g.srv.WaitReady(ctx, time.Millisecond, harness.Check{Path: "/healthz", Status: http.StatusOK},
		harness.Check{Path: "/readyz", Status: http.StatusOK}); err != nil {
		g.srv.Stop()
		return nil, err
	}
	g.ready = time.Now()
	return g, nil
}

// get requests path and decodes a JSON answer into v, when v is not nil and the status is 200.
func (g *gateway) get(ctx context.Context, path string, v any) (int, error) {
	status, body, err := harness.AdminCall(ctx, g.http, http.MethodGet, g.srv.URL+path, 1<<20)
	if err != nil {
		return status, err
	}
	if v != nil && status == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			return status, fmt.Errorf("GET %s: %w", path, err)
		}
	}
	return status, nil
}

// functionInfo is the part of the admin API's function state that a run watches.
type functionInfo struct {
	Invocations int64 `json:"invocations"`
	Failures    int64 `json:"failures"`
	Inflight    int64 `json:"inflight"`
}

// info returns the state of the function name (GET /admin/v1/functions/NAME).
func (g *gateway) info(ctx context.Context, name string) (functionInfo, error) {
	var fi functionInfo
	status, err := g.get(ctx, "/admin/v1/functions/"+name, &fi)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET /admin/v1/functions/%s: status %d", name, status)
	}
	return fi, err
}

// waitInvocations polls name's state every interval until it has been invoked want times and
// nothing is in flight, and returns when it saw that. More invocations than want, or any
// failure, is an error: each message must be handled once.
func (g *gateway) waitInvocations(ctx context.Context, name string, want int64, interval time.Duration) (time.Time, error) {
	for {
		fi, err := g.info(ctx, name)
		now := time.Now()
		switch {
		case err != nil:
			return now, err
		case fi.Failures > 0:
			return now, fmt.Errorf("%s failed %d invocations:\n%s", name, fi.Failures, g.srv.Output())
		case fi.Invocations > want:
			return now, fmt.Errorf("%s was invoked %d times for %d messages", name, fi.Invocations, want)
		case fi.Invocations == want && fi.Inflight == 0:
			return now, nil
		}
		select {
		case <-ctx.Done():
			return now, fmt.Errorf("%s: %d of %d invocations: %w", name, fi.Invocations, want, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// stop stops the gateway (SIGTERM, then its grace period).
func (g *gateway) stop() { g.srv.Stop() }
