package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// scaleWait bounds the waits for the scaler, which decides once a second.
const scaleWait = 30 * time.Second

// functionState is what `edgefn get NAME -o json` says of a function's processes.
type functionState struct {
	State      string
	Instances  int
	Ready      int
	StartError string
}

func stateOf(t *testing.T, g *gateway, name string) functionState {
	t.Helper()
	var s functionState
	if err := json.Unmarshal([]byte(mustCLI(t, g, "get", name, "-o", "json")), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitIdle waits until name is scaled to zero and the gateway has no plugin process left.
func waitIdle(t *testing.T, g *gateway, name string) {
	t.Helper()
	testkit.Eventually(t, scaleWait, name+" at zero with no plugin process", func() bool {
		plugins, _ := children(g.cmd.Process.Pid)
		return len(plugins) == 0 && stateOf(t, g, name).State == "idle"
	})
}

// countLogs counts the gateway's log lines holding every one of parts.
func countLogs(g *gateway, parts ...string) int {
	n := 0
	for _, line := range strings.Split(g.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// A function with min 0 stops its process after idle; the next calls start one, 50 calls at
// once sharing that start; a function at zero is ready and listed as idle.
func TestScaleToZeroAndBack(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: z
handler: {{testfn}}
scale: {min: 0, max: 4, target: 100, idle: 1s, stabilization: 0s}
triggers:
  - http: {method: GET, path: "/z/{op}"}
`))
	waitIdle(t, g, "z")
	if r := do(t, "GET", g.URL+"/readyz", nil); r.Status != 200 {
		t.Errorf("/readyz with a function at zero = %d %s, want 200", r.Status, r.Body)
	}
	if out := mustCLI(t, g, "list"); !strings.Contains(out, "0/0 (idle)") {
		t.Errorf("edgefn list with a function at zero:\n%s\nwant 0/0 (idle)", out)
	}

	var wg sync.WaitGroup
	var failed atomic.Int32
	pids := make([]string, 50)
	for k := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := do(t, "GET", g.URL+"/z/info", nil)
			if r.Status != 200 {
				failed.Add(1)
				t.Errorf("call %d during the cold start = %d %s", k, r.Status, r.Body)
				return
			}
			var info struct{ PID float64 }
			_ = json.Unmarshal(r.Body, &info)
			pids[k] = fmt.Sprint(info.PID)
		}()
	}
	wg.Wait()
	if failed.Load() == 0 {
		// target 100 keeps one process for 50 calls: every answer comes from the one start.
		for k, pid := range pids {
			if pid != pids[0] {
				t.Errorf("call %d was answered by process %s, call 0 by %s: want one process started once", k, pid, pids[0])
				break
			}
		}
	}
	if n := countLogs(g, `"msg":"function scaled"`, `"function":"z"`, "cold start"); n != 1 {
		t.Errorf("50 calls at zero made %d cold starts, want 1\n%s", n, g.logs.String())
	}
	if s := stateOf(t, g, "z"); s.Instances < 1 || s.Ready < 1 {
		t.Errorf("after the calls: %+v, want a ready process", s)
	}
	// And it goes back to zero.
	waitIdle(t, g, "z")
}

// A queue-triggered function at zero takes a burst of 1,000 messages: its consumer stays
// subscribed, the first delivery starts a process, the scaler adds more, and after the burst
// the function goes back to zero.
func TestScaleQueueBurstFromZero(t *testing.T) {
	eachBackend(t, func(t *testing.T, args []string) {
		queue := uniqueName("scale-q")
		g := startGateway(t, "", append(args, "--manifests", writeManifest(t, `
name: w
handler: {{testfn}}
scale: {min: 0, max: 4, target: 2, idle: 2s, stabilization: 0s}
triggers:
  - queue: {name: `+queue+`, prefetch: 16}
`))...)
		waitIdle(t, g, "w")
		const n = 1000
		for i := range n {
			body, _ := json.Marshal(map[string]any{"queue": queue, "type": "work", "id": fmt.Sprint("m", i),
				"data": map[string]int{"ms": 20}})
			if r := g.admin(t, "POST", "/admin/v1/publish", body); r.Status/100 != 2 {
				t.Fatalf("publish %d = %d %s", i, r.Status, r.Body)
			}
		}
		done := map[string]string{"function": "w", "trigger": "queue", "outcome": "success"}
		testkit.Eventually(t, 2*time.Minute, "the burst processed", func() bool {
			v, _ := series(scrape(t, g), "edgefn_invocations_total", done)
			return v == n
		})
		if ups := countLogs(g, `"msg":"function scaled"`, `"function":"w"`, `"from":1`); ups == 0 {
			t.Errorf("the burst never scaled w past one process\n%s", g.logs.String())
		}
		waitIdle(t, g, "w")
	})
}

// Under a steady HTTP load the scaler adds processes up to max and, once the load ends, goes
// back to min; no call fails meanwhile.
func TestScaleFollowsHTTPLoad(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: l
handler: {{testfn}}
scale: {min: 1, max: 3, target: 2, stabilization: 1s}
triggers:
  - http: {method: GET, path: "/l/{op}"}
`))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, failed atomic.Int64
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := do(t, "GET", g.URL+"/l/wait?ms=50", nil)
				calls.Add(1)
				if r.Status != 200 {
					failed.Add(1)
					t.Errorf("call under load = %d %s", r.Status, r.Body)
				}
			}
		}()
	}
	testkit.Eventually(t, scaleWait, "3 ready processes under load", func() bool {
		s := stateOf(t, g, "l")
		if s.Instances > 3 {
			t.Fatalf("%d processes, over max 3", s.Instances)
		}
		return s.Ready == 3
	})
	close(stop)
	wg.Wait()
	testkit.Eventually(t, scaleWait, "back to min after the load", func() bool {
		plugins, _ := children(g.cmd.Process.Pid)
		return stateOf(t, g, "l").Instances == 1 && len(plugins) == 1
	})
	if failed.Load() > 0 || calls.Load() == 0 {
		t.Errorf("%d of %d calls failed", failed.Load(), calls.Load())
	}
}

// --max-instances bounds the node's processes: a cold start makes room by stopping another
// function's idle process.
func TestScaleMaxInstances(t *testing.T) {
	var docs []string
	for _, name := range []string{"a", "b", "c"} {
		docs = append(docs, fmt.Sprintf(`name: %s
handler: {{testfn}}
scale: {min: 0, max: 2, idle: 1h}
triggers:
  - http: {method: GET, path: "/%s/{op}"}
`, name, name))
	}
	g := startGateway(t, "", "--max-instances", "2", "--manifests", writeManifest(t, strings.Join(docs, "---\n")))
	for round := range 2 {
		for _, name := range []string{"a", "b", "c"} {
			if r := do(t, "GET", g.URL+"/"+name+"/echo", nil); r.Status != 200 {
				t.Fatalf("round %d: call to %s = %d %s", round, name, r.Status, r.Body)
			}
			running := 0
			for _, n := range []string{"a", "b", "c"} {
				running += stateOf(t, g, n).Instances
			}
			if running > 2 {
				t.Fatalf("round %d, after %s: %d processes wanted, over --max-instances 2", round, name, running)
			}
		}
	}
}

// A function whose binary no longer starts fails the calls that wait for it with 503 and the
// reason, at once rather than at their timeout.
func TestScaleColdStartFailure(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, `
name: broken
handler: {{testfn}}
timeout: 30s
scale: {min: 0, max: 1, idle: 1s}
triggers:
  - http: {method: GET, path: "/broken/{op}"}
`))
	waitIdle(t, g, "broken")
	bins, _ := filepath.Glob(filepath.Join(g.DataDir, "functions", "broken", "v*", "handler"))
	if len(bins) != 1 {
		t.Fatalf("stored binaries of broken: %v", bins)
	}
	f, err := os.OpenFile(bins[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("tampered"))
	f.Close()
	for k := range 2 {
		began := time.Now()
		r := do(t, "GET", g.URL+"/broken/echo", nil)
		if r.Status != 503 || !strings.Contains(string(r.Body), "start_failed") ||
			!strings.Contains(string(r.Body), "binary changed since its deploy") {
			t.Errorf("call %d to a function that cannot start = %d %s, want 503 start_failed with the reason", k, r.Status, r.Body)
		}
		if took := time.Since(began); took > 10*time.Second {
			t.Errorf("call %d took %s: it waited for its timeout", k, took)
		}
	}
	if s := stateOf(t, g, "broken"); !strings.Contains(s.StartError, "binary changed") {
		t.Errorf("get after the failed start: %+v, want the start error", s)
	}
}
