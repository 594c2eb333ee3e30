// Command scalebench measures scaling (docs/manifest.md, "Scaling") in one run on one machine:
//
//   - cold start: the hello function with `scale: {min: 0}` is left to go to zero, then one
//     GET /hello/x is timed until its answer; against the median of warm calls right after, on
//     the same gateway (the sandbox as `serve` sets it);
//   - memory at idle: the gateway's and its processes' resident memory with -functions copies
//     of hello deployed with `min: 0` once all are at zero, against the same functions with
//     one warm process each;
//   - a step: from zero to -rate requests per second (open loop) on one function, how long
//     until the scaler's last scale-up and how many requests failed.
//
// With -write FILE it replaces the part of FILE between <!-- scale:start --> and
// <!-- scale:end --> (appended when missing) with its report.
//
// Usage, from the repository:
//
//	go run ./bench/cmd/scalebench -write bench/README.md
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// cmd describes scalebench to the scaffolding the benchmark commands share.
var cmd = harness.Command{Name: "scalebench", Section: "scale", Attempts: 1, Programs: harness.HelloPrograms}

// Issue 23's goals: a cold start adds at most this to the first call, and the step fails none.
const maxColdStartAdded = 30 * time.Millisecond

type options struct {
	coldStarts, functions, rate int
	step                        time.Duration
	harness.Options
}

func main() {
	var o options
	flag.IntVar(&o.coldStarts, "coldstarts", 50, "cold starts timed")
	flag.IntVar(&o.functions, "functions", 200, "functions deployed for the memory at idle")
	flag.IntVar(&o.rate, "rate", 5000, "requests per second of the step from zero")
	flag.DurationVar(&o.step, "step", 15*time.Second, "how long the step's load lasts")
	cmd.Main(&o.Options, o.validate, func(ctx context.Context, r *harness.Run) error { return run(ctx, o, r) })
}

func (o *options) validate() error {
	if o.coldStarts < 1 || o.functions < 1 || o.rate < 1 || o.step <= 0 {
		return errors.New("-coldstarts, -functions, -rate and -step must be positive")
	}
	return nil
}

type report struct {
	cold, warm       []time.Duration // sorted
	isolation        string
	idleKB, warmKB   int64
	functions        int
	step             harness.LatencyResult
	settled          time.Duration
	maxInstances     int
	scaleUps         int
	rate             int
	stepDuration     time.Duration
	coldStartsInStep int
}

func run(ctx context.Context, o options, r *harness.Run) error {
	bins := harness.HelloBinaries(r.Bins)
	var rep report
	rep.functions, rep.rate, rep.stepDuration = o.functions, o.rate, o.step
	if err := coldStarts(ctx, o, r, bins, &rep); err != nil {
		return err
	}
	for _, warm := range []bool{false, true} {
		kb, err := idleMemory(ctx, o, r, bins, warm)
		if err != nil {
			return err
		}
		if warm {
			rep.warmKB = kb
		} else {
			rep.idleKB = kb
		}
	}
	if err := stepLoad(ctx, o, r, bins, &rep); err != nil {
		return err
	}
	return r.Publish(func() string { return markdown(o, r, &rep) })
}

// helloManifest is hello under name at /name/{x}, with scale.
func helloManifest(name, binary, scale string) string {
	return fmt.Sprintf("name: %s\nhandler: %s\nconcurrency: 1000\n%s\ntriggers:\n  - http: {method: GET, path: \"/%s/{x}\"}\n",
		name, binary, scale, name)
}

var client = &http.Client{Timeout: 30 * time.Second}

// functionState reads the admin API's state of a function.
func functionState(ctx context.Context, srv *harness.Server, name string) (state string, instances int, err error) {
	code, body, err := harness.AdminCall(ctx, client, "GET", srv.URL+"/admin/v1/functions/"+name, 1<<20)
	if err != nil || code != 200 {
		return "", 0, fmt.Errorf("get %s: %d %s %v", name, code, body, err)
	}
	var info struct {
		State     string
		Instances int
	}
	err = json.Unmarshal(body, &info)
	return info.State, info.Instances, err
}

// waitIdle waits until every one of names is at zero and srv has no child process left.
func waitIdle(ctx context.Context, srv *harness.Server, names ...string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for _, name := range names {
		for {
			state, _, err := functionState(ctx, srv, name)
			if err != nil {
				return err
			}
			if state == "idle" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not go to zero: %s", name, state)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for len(descendants(srv.Pid())) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("plugin processes left at zero: %v", descendants(srv.Pid()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// timeGet times one GET until its whole answer, which must be 200.
func timeGet(ctx context.Context, url string) (time.Duration, error) {
	start := time.Now()
	code, body, err := harness.Call(ctx, client, "GET", url, 1<<20)
	took := time.Since(start)
	if err != nil || code != 200 {
		return 0, fmt.Errorf("GET %s: %d %s %v", url, code, body, err)
	}
	return took, nil
}

func coldStarts(ctx context.Context, o options, r *harness.Run, bins harness.Binaries, rep *report) error {
	srv, err := harness.Serve{Edgefn: bins.Edgefn, Dir: r.Tmp, Name: "cold",
		Manifest: helloManifest("hello", bins.Hello, "scale: {min: 0, max: 1, idle: 1s, stabilization: 0s}"),
		Flags:    []string{"--log-level", "info"}}.Start(ctx, harness.Check{Path: "/hello/x", Status: 200})
	if err != nil {
		return err
	}
	defer srv.Stop()
	rep.isolation = isolation(srv.Output())
	url := srv.URL + "/hello/x"
	if err := r.WaitTurn(ctx); err != nil {
		return err
	}
	for i := range o.coldStarts {
		if err := waitIdle(ctx, srv, "hello"); err != nil {
			return err
		}
		cold, err := timeGet(ctx, url)
		if err != nil {
			return err
		}
		var warm []time.Duration
		for range 21 {
			d, err := timeGet(ctx, url)
			if err != nil {
				return err
			}
			warm = append(warm, d)
		}
		slices.Sort(warm)
		rep.cold = append(rep.cold, cold)
		rep.warm = append(rep.warm, warm[len(warm)/2])
		r.Logf("cold start %d: %s, warm %s", i+1, cold.Round(10*time.Microsecond), warm[len(warm)/2].Round(10*time.Microsecond))
	}
	slices.Sort(rep.cold)
	slices.Sort(rep.warm)
	return nil
}

func isolation(log string) string {
	for line := range strings.Lines(log) {
		if _, rest, ok := strings.Cut(line, `"msg":"sandbox","isolation":"`); ok {
			iso, _, _ := strings.Cut(rest, `"`)
			return iso
		}
	}
	return "off"
}

// idleMemory deploys o.functions copies of hello, at zero (warm false) or with one process each,
// and returns the resident memory of the gateway and its processes once they settled.
func idleMemory(ctx context.Context, o options, r *harness.Run, bins harness.Binaries, warm bool) (int64, error) {
	scale := "scale: {min: 0, max: 1, idle: 1s}"
	if warm {
		scale = "instances: 1"
	}
	var docs []string
	names := make([]string, o.functions)
	for i := range names {
		names[i] = fmt.Sprintf("f%03d", i)
		docs = append(docs, helloManifest(names[i], bins.Hello, scale))
	}
	srv, err := harness.Serve{Edgefn: bins.Edgefn, Dir: r.Tmp, Name: "memory",
		Manifest: strings.Join(docs, "---\n"),
		Flags:    []string{"--max-instances", strconv.Itoa(o.functions)}}.Start(ctx, harness.Check{Path: "/readyz", Status: 200})
	if err != nil {
		return 0, err
	}
	defer srv.Stop()
	if warm {
		for _, n := range names {
			if _, err := timeGet(ctx, srv.URL+"/"+n+"/x"); err != nil {
				return 0, err
			}
		}
	} else if err := waitIdle(ctx, srv, names...); err != nil {
		return 0, err
	}
	time.Sleep(2 * time.Second) // let the gateway's heap settle after the deploys
	kb := rssKB(srv.Pid())
	for _, pid := range descendants(srv.Pid()) {
		kb += rssKB(pid)
	}
	r.Logf("%d functions, warm %v: %d MiB", o.functions, warm, kb>>10)
	return kb, nil
}

func stepLoad(ctx context.Context, o options, r *harness.Run, bins harness.Binaries, rep *report) error {
	srv, err := harness.Serve{Edgefn: bins.Edgefn, Dir: r.Tmp, Name: "step",
		Manifest: helloManifest("hello", bins.Hello, "scale: {min: 0, max: 8, target: 4, idle: 1s}"),
		Flags:    []string{"--log-level", "info"}}.Start(ctx, harness.Check{Path: "/healthz", Status: 200})
	if err != nil {
		return err
	}
	defer srv.Stop()
	if err := waitIdle(ctx, srv, "hello"); err != nil {
		return err
	}
	if err := r.WaitTurn(ctx); err != nil {
		return err
	}
	began := time.Now()
	res, err := harness.OpenLoop{Rate: o.rate, Duration: o.step, Conns: 256}.Run(ctx, srv.URL+"/hello/x")
	if err != nil {
		return err
	}
	rep.step = res
	// The scaler's decisions, from its log lines.
	for line := range strings.Lines(srv.Output()) {
		if !strings.Contains(line, `"msg":"function scaled"`) {
			continue
		}
		var l struct {
			Time     time.Time
			From, To int
			Reason   string
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Time.Before(began) || l.To <= l.From {
			continue
		}
		rep.scaleUps++
		rep.settled = l.Time.Sub(began)
		rep.maxInstances = max(rep.maxInstances, l.To)
		if strings.Contains(l.Reason, "cold start") {
			rep.coldStartsInStep++
		}
	}
	r.Logf("step to %d req/s: %d sent, %d failed, settled after %s at %d instances", o.rate, res.Sent, res.Failed,
		rep.settled.Round(time.Millisecond), rep.maxInstances)
	return nil
}

// descendants are the processes under pid but the sandbox's launchers, which wait for a
// plugin to start (their command line starts with edgefn-sandbox).
func descendants(pid int) []int {
	parent := map[int]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
		if len(fields) > 1 {
			parent[p], _ = strconv.Atoi(fields[1])
		}
	}
	var out []int
	for p := range parent {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if bytes.HasPrefix(cmdline, []byte("edgefn-sandbox\x00")) {
			continue
		}
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func rssKB(pid int) int64 {
	kb, _ := harness.ProcStatusKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	return kb
}

func markdown(o options, r *harness.Run, rep *report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Scaling\n\n%s", r.Preamble(1, "run"))
	p := func(xs []time.Duration, q float64) float64 { return harness.Millis(harness.Percentile(xs, q)) }
	added := harness.Percentile(rep.cold, 50) - harness.Percentile(rep.warm, 50)
	fmt.Fprintf(&b, "**Cold start** of hello (`scale: {min: 0}`), %d starts from zero, each the first GET /hello/x after the "+
		"function went to zero, against the median of 21 warm calls right after it; sandbox: %s.\n\n", len(rep.cold), rep.isolation)
	b.WriteString("| | p50, ms | p99, ms | max, ms |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| first call from zero | %.2f | %.2f | %.2f |\n", p(rep.cold, 50), p(rep.cold, 99), p(rep.cold, 100))
	fmt.Fprintf(&b, "| warm call | %.2f | %.2f | %.2f |\n\n", p(rep.warm, 50), p(rep.warm, 99), p(rep.warm, 100))
	fmt.Fprintf(&b, "A cold start adds %.2f ms at the median (goal ≤ %d ms): %s.\n\n", harness.Millis(added),
		maxColdStartAdded.Milliseconds(), harness.Verdict(added <= maxColdStartAdded))
	fmt.Fprintf(&b, "**Memory at idle**, resident (VmRSS) of the gateway and all its processes, %d copies of hello:\n\n", rep.functions)
	b.WriteString("| | MiB |\n|---|---|\n")
	fmt.Fprintf(&b, "| `min: 0`, all at zero | %d |\n| one warm process each | %d |\n\n", rep.idleKB>>10, rep.warmKB>>10)
	s := rep.step
	fmt.Fprintf(&b, "**A step from zero** to %d req/s of GET /hello/x (open loop, %s, 256 connections) on hello with "+
		"`scale: {min: 0, max: 8, target: 4}`: %d requests sent at %.0f req/s achieved, %d failed",
		rep.rate, rep.stepDuration, s.Sent, float64(s.Sent)/max(s.Elapsed.Seconds(), 1e-9), s.Failed)
	if s.FirstError != nil {
		fmt.Fprintf(&b, " (first: %v)", s.FirstError)
	}
	fmt.Fprintf(&b, "; %d scale-ups (%d cold start), the last %s after the step began, at %d instances; latency p50 %.2f ms, p99 %.2f ms. "+
		"Goal: no failed request: %s.\n", rep.scaleUps, rep.coldStartsInStep, rep.settled.Round(time.Millisecond), rep.maxInstances,
		p(s.Latencies, 50), p(s.Latencies, 99), harness.Verdict(s.Failed == 0))
	return b.String()
}
