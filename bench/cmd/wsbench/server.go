package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// The two servers a round measures.
const (
	edgefnServer = "edgefn"
	rawServer    = "rawws"
)

// topicsManifest lets anyone subscribe and publish to bench.*: the rule edgefn checks on
// every subscribe, where the baseline checks nothing.
const topicsManifest = `kind: topics
rules:
  - match: bench.*
    subscribe: 'true'
    publish: 'true'
`

// startServer starts one server on a fresh loopback port and waits until /healthz answers.
// edgefn gets a fresh data folder, the topics manifest, a warn log level and no connection
// caps.
func (b *bench) startServer(ctx context.Context, which string) (*harness.Server, error) {
	health := harness.Check{Path: "/healthz", Status: 200}
	if which == rawServer {
		return harness.StartServer(ctx, rawServer, b.rawws, []string{"--listen", "{addr}"}, health)
	}
	// Every client dials from the loopback address, and -conns is 10,000 by default: the
	// connection caps, which are about hostile clients, are off.
	flags := []string{"--ws-max-conns-per-ip", "0", "--ws-max-conns", "0"}
	if b.opts.topicHistory > 0 {
		flags = append(flags, "--topic-history", strconv.Itoa(b.opts.topicHistory))
	}
	serve := harness.Serve{Edgefn: b.edgefn, Dir: b.run.Tmp, Manifest: topicsManifest, Flags: flags}
	return serve.Start(ctx, health, harness.Check{Path: "/readyz", Status: 200})
}

// rssKB is the resident memory of process pid, in KiB (VmRSS of /proc/PID/status).
func rssKB(pid int) (int64, error) {
	return harness.ProcStatusKB(filepath.Join("/proc", strconv.Itoa(pid), "status"), "VmRSS:")
}

// publisher sends publications through POST /admin/v1/publish, which both servers answer
// once the publication has been handed to their subscribers' send queues.
type publisher struct {
	client *fasthttp.HostClient
	url    string
}

func newPublisher(addr string, conns int) *publisher {
	return &publisher{
		client: &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: 15 * time.Second, WriteTimeout: 15 * time.Second},
		url:    "http://" + addr + "/admin/v1/publish",
	}
}

// publish publishes {"seq":seq} to topic and fails unless the server answered 200.
func (p *publisher) publish(topic string, seq int64) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(p.url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", "Bearer "+harness.AdminToken)
	body := req.BodyWriter()
	fmt.Fprintf(body, `{"topic":%q,"data":{"seq":%d}}`, topic, seq)
	if err := p.client.Do(req, resp); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fmt.Errorf("publish to %s: %d %s", topic, resp.StatusCode(), resp.Body())
	}
	return nil
}

func (p *publisher) close() { p.client.CloseIdleConnections() }
