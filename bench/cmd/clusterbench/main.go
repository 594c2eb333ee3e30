// Command clusterbench measures the shared function registry (issue 20, docs/cluster.md) in
// one run on one machine, against the real Redis of -redis:
//
//   - convergence: three `edgefn serve --redis` nodes of one cluster of the run's own; each
//     sample deploys the hello plugin (as edgefn builds it, with bytes of its own appended so
//     that every sample's binary is new to the registry and to every node) under a new name
//     through the first node's admin API, and times from the start of the deploy until the
//     new route answers 200 on every node (the last of the three), polling all three while
//     the deploy runs;
//   - the baseline: the same deploys, each of a new binary, to one node without --redis
//     (its --data-dir store), timed until its route's first 200, in the same run;
//   - Redis memory per kept version: MEMORY USAGE of a version's entry and of its binary's
//     blob;
//   - a new node's start: with the samples' functions deployed (each with its own binary), a
//     fourth node starts on an empty data dir; the time from its start to /readyz 200.
//
// It reports p50 and the maximum of each, the ratio of the p50s and the goal (convergence
// under 2x the single node's deploy), and with -write FILE replaces the part of FILE between
// <!-- cluster:start --> and <!-- cluster:end --> (appended when missing) with the report.
//
// Usage, from the repository, with a Redis:
//
//	go run ./bench/cmd/clusterbench -redis redis://127.0.0.1:6379/0 -write bench/README.md
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/bench/internal/harness"
	"github.com/edgefn/edgefn/internal/cluster"
)

// cmd describes clusterbench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "clusterbench", Section: "cluster", Attempts: 1,
	Programs: []harness.Program{harness.Edgefn, harness.Hello}}

// goal: every node of 3 serves a deploy within this multiple of a single node's deploy.
const goal = 2.0

type options struct {
	deploys int
	redis   string
	harness.Options
}

func main() {
	var o options
	flag.IntVar(&o.deploys, "deploys", 20, "deploys timed on the cluster and on the single node; the cluster keeps them for the new node's start")
	flag.StringVar(&o.redis, "redis", "redis://127.0.0.1:6379/0", "the Redis the cluster shares")
	cmd.Main(&o.Options, o.validate, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

func (o *options) validate() error {
	if o.deploys < 1 {
		return errors.New("-deploys must be positive")
	}
	_, err := goredis.ParseURL(o.redis)
	return err
}

// figures are what one run measured.
type figures struct {
	single, cluster []time.Duration // deploy → 200 on the one node; → 200 on every node
	entry, blob     int64           // Redis bytes of one version's entry and of its binary
	binary          int64           // the plugin's size
	newNode         time.Duration   // start → /readyz 200 with every sample deployed
}

func run(ctx context.Context, o options, r *harness.Run) error {
	edgefn, hello := r.Bins[0], r.Bins[1]
	opts, _ := goredis.ParseURL(o.redis)
	rc := goredis.NewClient(opts)
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	name := "clusterbench-" + randomHex(4)
	defer dropCluster(rc, name)
	flags := []string{"--redis", o.redis, "--cluster", name}
	var f figures
	if info, err := os.Stat(hello); err == nil {
		f.binary = info.Size()
	}

	single, err := harness.Serve{Edgefn: edgefn, Dir: r.Tmp, Name: "single"}.Start(ctx, harness.Check{Path: "/readyz", Status: 200})
	if err != nil {
		return err
	}
	var nodes []*harness.Server
	defer func() {
		single.Stop()
		for _, n := range nodes {
			n.Stop()
		}
	}()
	for i := range 3 {
		n, err := harness.Serve{Edgefn: edgefn, Dir: r.Tmp, Name: fmt.Sprintf("node%d", i), Flags: flags}.Start(ctx, harness.Check{Path: "/readyz", Status: 200})
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	dir, err := os.MkdirTemp(r.Tmp, "deploys-")
	if err != nil {
		return err
	}
	for i := range o.deploys {
		if err := r.WaitTurn(ctx); err != nil {
			return err
		}
		bin, err := ownBinary(hello, dir, fmt.Sprintf("single%d", i))
		if err != nil {
			return err
		}
		s, err := harness.ColdStart{Server: single.URL, Binary: bin, Dir: dir}.Once(ctx, fmt.Sprintf("s%d", i))
		if err != nil {
			return err
		}
		f.single = append(f.single, s.FirstOK)
		os.Remove(bin)

		bin, err = ownBinary(hello, dir, fmt.Sprintf("cluster%d", i))
		if err != nil {
			return err
		}
		took, err := converge(ctx, nodes, bin, dir, fmt.Sprintf("c%d", i))
		if err != nil {
			return err
		}
		f.cluster = append(f.cluster, took)
		r.Logf("deploy %2d: single node %s, every node of 3 %s", i, s.FirstOK.Round(100*time.Microsecond), took.Round(100*time.Microsecond))
		if i == 0 {
			f.entry, f.blob = versionMemory(ctx, rc, name, "c0", bin)
		}
		os.Remove(bin)
	}

	// A fourth node starts with every sample deployed, each with its own binary.
	if err := r.WaitTurn(ctx); err != nil {
		return err
	}
	start := time.Now()
	d, err := harness.Serve{Edgefn: edgefn, Dir: r.Tmp, Name: "new", Flags: flags}.Start(ctx, harness.Check{Path: "/readyz", Status: 200})
	if err != nil {
		return err
	}
	f.newNode = time.Since(start)
	nodes = append(nodes, d)
	status, _, err := harness.Call(ctx, http.DefaultClient, http.MethodGet, fmt.Sprintf("%s/c%d/x", d.URL, o.deploys-1), 1<<10)
	if err != nil || status != 200 {
		return fmt.Errorf("the new node is ready but does not serve the last function: %d %v", status, err)
	}
	r.Logf("new node ready in %s with %d functions", f.newNode.Round(time.Millisecond), o.deploys)
	return r.Publish(func() string { return markdown(o, r, f) })
}

// converge deploys bin as the function name through the first node and returns the time until
// its route answers 200 on every node.
func converge(ctx context.Context, nodes []*harness.Server, bin, dir, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	start := time.Now()
	took := make([]time.Duration, len(nodes))
	errs := make(chan error, len(nodes))
	for i, n := range nodes[1:] {
		go func() { errs <- poll(ctx, n.URL+"/"+name+"/x", start, &took[i+1]) }()
	}
	s, err := harness.ColdStart{Server: nodes[0].URL, Binary: bin, Dir: dir}.Once(ctx, name)
	if err != nil {
		cancel()
		return 0, err
	}
	took[0] = s.FirstOK
	for range nodes[1:] {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return slices.Max(took), nil
}

// poll GETs url every millisecond until it answers 200, then stores the time since start.
func poll(ctx context.Context, url string, start time.Time, took *time.Duration) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for {
		status, _, err := harness.Call(ctx, client, http.MethodGet, url, 1<<10)
		if err == nil && status == http.StatusOK {
			*took = time.Since(start)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no 200 in time: %w", url, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// ownBinary copies the plugin with 16 random bytes appended (an ELF binary runs the same): a
// binary no node and no registry has seen.
func ownBinary(hello, dir, name string) (string, error) {
	data, err := os.ReadFile(hello)
	if err != nil {
		return "", err
	}
	tail := make([]byte, 16)
	_, _ = rand.Read(tail)
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, append(data, tail...), 0o700)
}

// versionMemory is what Redis holds for the current version of fn: its entry and its binary.
func versionMemory(ctx context.Context, rc *goredis.Client, cl, fn, bin string) (entry, blob int64) {
	prefix := cluster.RedisPrefix(cl)
	cur, _ := rc.Get(ctx, prefix+"fn:"+fn+":current").Result()
	entry, _ = rc.MemoryUsage(ctx, prefix+"fn:"+fn+":v:"+cur, 0).Result()
	f, err := os.Open(bin)
	if err != nil {
		return entry, 0
	}
	defer f.Close()
	h := sha256.New()
	_, _ = io.Copy(h, f)
	blob, _ = rc.MemoryUsage(ctx, prefix+"blob:"+hex.EncodeToString(h.Sum(nil)), 0).Result()
	return entry, blob
}

// dropCluster removes the run's keys from Redis.
func dropCluster(rc *goredis.Client, name string) {
	ctx := context.Background()
	if keys, _ := rc.Keys(ctx, cluster.RedisPrefix(name)+"*").Result(); len(keys) > 0 {
		rc.Del(ctx, keys...)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func markdown(o options, r *harness.Run, f figures) string {
	single, clustered := sorted(f.single), sorted(f.cluster)
	p50s, p50c := harness.Percentile(single, 50), harness.Percentile(clustered, 50)
	ratio := float64(p50c) / float64(p50s)
	var b strings.Builder
	b.WriteString(r.Preamble(o.deploys, "deploy", "redis"))
	fmt.Fprintf(&b, "\n| figure | p50 | max | goal | result |\n| --- | ---: | ---: | --- | --- |\n")
	fmt.Fprintf(&b, "| single node: deploy → first 200, new binary of %.1f MB (ms) | %.1f | %.1f | — | baseline |\n",
		float64(f.binary)/1e6, harness.Millis(p50s), harness.Millis(single[len(single)-1]))
	fmt.Fprintf(&b, "| 3 nodes on Redis: deploy through one → 200 on every node (ms) | %.1f | %.1f | < %.0f× single node | %s |\n",
		harness.Millis(p50c), harness.Millis(clustered[len(clustered)-1]), goal, harness.Verdict(ratio < goal))
	fmt.Fprintf(&b, "| ratio of the p50s (cluster ÷ single node) | %.2f | | < %.0f | |\n", ratio, goal)
	fmt.Fprintf(&b, "\nRedis memory of one kept version (`MEMORY USAGE`): its entry %s bytes, its binary's blob %s bytes "+
		"(the binary is %s bytes; a blob is stored once, whatever number of versions use it).\n\n",
		harness.Thousands(float64(f.entry)), harness.Thousands(float64(f.blob)), harness.Thousands(float64(f.binary)))
	fmt.Fprintf(&b, "A new node, started with %d functions deployed (each with a binary of its own, none in its cache), "+
		"was ready (`/readyz` 200, every function started) %.0f ms after it started.\n", o.deploys, harness.Millis(f.newNode))
	return b.String()
}

func sorted(ds []time.Duration) []time.Duration {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}
