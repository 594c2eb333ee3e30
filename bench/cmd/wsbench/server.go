package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
// edgefn gets a fresh data folder, the topics manifest and a warn log level.
func (b *bench) startServer(ctx context.Context, which string) (*harness.Server, error) {
	health := harness.Check{Path: "/healthz", Status: 200}
	if which == rawServer {
		return harness.StartServer(ctx, rawServer, b.bins.rawws, []string{"--listen", "{addr}"}, health)
	}
	dir, err := os.MkdirTemp(b.tmp, "edgefn-")
	if err != nil {
		return nil, err
	}
	manifest := filepath.Join(dir, "topics.yaml")
	if err := os.WriteFile(manifest, []byte(topicsManifest), 0o644); err != nil {
		return nil, err
	}
	args := []string{"serve", "--listen", "{addr}", "--data-dir", filepath.Join(dir, "data"),
		"--manifests", manifest, "--log-level", "warn", "--grace", "5s"}
	if b.opts.topicHistory > 0 {
		args = append(args, "--topic-history", strconv.Itoa(b.opts.topicHistory))
	}
	return harness.StartServer(ctx, edgefnServer, b.bins.edgefn, args, health, harness.Check{Path: "/readyz", Status: 200})
}

// rssKB is the resident memory of process pid, in KiB (VmRSS of /proc/PID/status).
func rssKB(pid int) (int64, error) {
	return procStatusKB(filepath.Join("/proc", strconv.Itoa(pid), "status"), "VmRSS:")
}

// procStatusKB reads a "Key:   123 kB" line of a /proc file.
func procStatusKB(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
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
