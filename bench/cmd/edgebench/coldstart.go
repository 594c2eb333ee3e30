package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// coldResult holds the cold starts and the parts they are made of.
type coldResult struct {
	api, cli []harness.ColdSample
	// cliGoBuild are CLI deploys of hello from a bare `go build` (api and cli deploy it as
	// edgefn builds functions).
	cliGoBuild []harness.ColdSample
	// upload is a deploy refused once its upload is staged; handshake is exec to go-plugin
	// handshake of the plugin alone; hash is one SHA-256 pass over the plugin binary.
	upload, handshake, hash []time.Duration
	binarySize, goBuildSize int64
	// foreign is the share of the machine other processes used meanwhile.
	foreign float64
}

// coldStarts starts a fresh edgefn and measures cold starts and their parts on it, each run
// once it is the machine's turn, again when other processes disturbed them.
func (b *bench) coldStarts(ctx context.Context) (coldResult, error) {
	srv, err := harness.StartEdgefn(ctx, b.bins, b.run.Tmp)
	if err != nil {
		return coldResult{}, err
	}
	defer srv.Stop()
	dir, err := os.MkdirTemp(b.run.Tmp, "cold-")
	if err != nil {
		return coldResult{}, err
	}
	res, other, _, err := harness.Measure(b.run, "cold starts", func(attempt int) (coldResult, float64, error) {
		if err := b.run.WaitTurn(ctx); err != nil {
			return coldResult{}, 0, err
		}
		before := harness.Snapshot(srv)
		res, err := b.coldOnce(ctx, srv, dir, attempt)
		return res, harness.Snapshot(srv).Since(before).Other(), err
	})
	if err != nil {
		return res, err
	}
	res.foreign = other
	b.run.Logf("cold start via API: %s", describeCold(res.api))
	b.run.Logf("cold start via CLI: %s (other load %.0f%%)", describeCold(res.cli), 100*other)
	b.run.Logf("cold start via CLI, hello from a bare go build: %s", describeCold(res.cliGoBuild))
	if fi, err := os.Stat(b.bins.Hello); err == nil {
		res.binarySize = fi.Size()
	}
	if fi, err := os.Stat(b.bins.HelloGoBuild); err == nil {
		res.goBuildSize = fi.Size()
	}
	return res, nil
}

// coldOnce deploys hello under new names and routes, alternating the admin API and the CLI,
// deleting each function after its first answer; then it times the parts.
func (b *bench) coldOnce(ctx context.Context, srv *harness.Server, dir string, attempt int) (coldResult, error) {
	var res coldResult
	api := harness.ColdStart{Server: srv.URL, Binary: b.bins.Hello, Dir: dir}
	cli := api
	cli.CLI = b.bins.Edgefn
	cliGoBuild := cli
	cliGoBuild.Binary = b.bins.HelloGoBuild
	for i := range b.opts.coldStarts {
		for _, c := range []struct {
			cs   harness.ColdStart
			name string
			out  *[]harness.ColdSample
		}{
			{api, fmt.Sprintf("cold-api-%d-%d", attempt, i), &res.api},
			{cli, fmt.Sprintf("cold-cli-%d-%d", attempt, i), &res.cli},
			{cliGoBuild, fmt.Sprintf("cold-gobuild-%d-%d", attempt, i), &res.cliGoBuild},
		} {
			s, err := c.cs.Once(ctx, c.name)
			if err != nil {
				return res, fmt.Errorf("%w\n%s", err, srv.Output())
			}
			*c.out = append(*c.out, s)
			if err := c.cs.Delete(ctx, c.name); err != nil {
				return res, err
			}
		}
	}
	for i := range b.opts.coldStarts {
		d, err := api.Upload(ctx, fmt.Sprintf("upload-%d-%d", attempt, i))
		if err != nil {
			return res, err
		}
		res.upload = append(res.upload, d)
	}
	for range b.opts.coldStarts {
		d, err := harness.PluginHandshake(ctx, b.bins.Hello)
		if err != nil {
			return res, err
		}
		res.handshake = append(res.handshake, d)
	}
	for range 5 {
		d, err := harness.HashFile(b.bins.Hello)
		if err != nil {
			return res, err
		}
		res.hash = append(res.hash, d)
	}
	return res, nil
}

func describeCold(samples []harness.ColdSample) string {
	first := make([]float64, len(samples))
	deploy := make([]float64, len(samples))
	for i, s := range samples {
		first[i] = harness.Millis(s.FirstOK)
		deploy[i] = harness.Millis(s.Deploy)
	}
	f, d := harness.Summarize(first), harness.Summarize(deploy)
	return fmt.Sprintf("first 200 median %.1f ms (%.1f–%.1f), deploy call median %.1f ms", f.Median, f.Min, f.Max, d.Median)
}
