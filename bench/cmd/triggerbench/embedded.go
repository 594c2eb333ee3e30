package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// noopName is the measured function's name, and the stream trigger's default group.
const noopName = "noop"

// noopManifest is the measured function: the noop plugin at concurrency 256, with the given
// trigger lines under `triggers:`.
func noopManifest(handler, triggers string) string {
	return fmt.Sprintf("name: %s\nhandler: %s\nconcurrency: 256\ntriggers:\n%s", noopName, handler, triggers)
}

// burstManifest is the producer of the embedded runs: the same plugin, on POST /burst.
func burstManifest(handler string) string {
	return fmt.Sprintf("---\nname: burst\nhandler: %s\ntriggers:\n  - http: {method: POST, path: /burst}\n", handler)
}

// embedded measures the embedded queue or stream (kind): a gateway with no broker runs noop
// on a queue or stream trigger and the producer burst on POST /burst. Once the gateway is
// ready and the machine quiet, -producers callers call POST /burst until it has emitted
// -embedded-msgs messages, -burst a call; the run is timed from the first call until noop has
// been invoked once per message with none in flight (polled every 5 ms). Production and
// consumption overlap, as they do in use, and both count.
func (b *bench) embedded(ctx context.Context, kind string) (result, error) {
	n := b.opts.embeddedMsgs
	var target, trigger string
	switch kind {
	case "queue":
		target = b.name("mq")
		trigger = fmt.Sprintf("  - queue: {name: %s, prefetch: %d}\n", target, queuePrefetch)
	case "stream":
		target = b.name("ms")
		trigger = fmt.Sprintf("  - stream: {name: %s, from: oldest}\n", target)
	default:
		return result{}, fmt.Errorf("embedded %q: want queue or stream", kind)
	}
	g, err := b.startGateway(ctx, gatewayConfig{name: "embedded-" + kind,
		manifest: noopManifest(b.noop, trigger) + burstManifest(b.noop)})
	if err != nil {
		return result{}, err
	}
	defer g.stop()
	if err := b.run.WaitTurn(ctx); err != nil {
		return result{}, err
	}
	u0 := harness.Snapshot(g.srv)
	start := time.Now()
	if err := b.produce(ctx, g, kind, target); err != nil {
		return result{}, err
	}
	res := result{msgs: n, produced: time.Since(start)}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	end, err := g.waitInvocations(wctx, noopName, int64(n), 5*time.Millisecond)
	if err != nil {
		return result{}, err
	}
	res.elapsed = end.Sub(start)
	u := harness.Snapshot(g.srv).Since(u0)
	res.cpu, res.other = perMessage(u, n), u.Other()
	return res, nil
}

// produce has burst emit -embedded-msgs messages to target, -burst a call, from -producers
// callers at once. Every call must be answered 202.
func (b *bench) produce(ctx context.Context, g *gateway, kind, target string) error {
	n, k := b.opts.embeddedMsgs, b.opts.burst
	calls := (n + k - 1) / k
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: b.opts.producers}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range b.opts.producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < calls && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				size := min(k, n-i*k)
				url := fmt.Sprintf("%s/burst?to=%s&name=%s&n=%d", g.srv.URL, kind, target, size)
				if err := post(ctx, client, url); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("POST /burst: %w", err)
	}
	return nil
}

// post sends an empty POST to url and wants 202.
func post(ctx context.Context, client *http.Client, url string) error {
	status, body, err := harness.Call(ctx, client, http.MethodPost, url, 4<<10)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return fmt.Errorf("status %d: %s", status, body)
	}
	return nil
}
