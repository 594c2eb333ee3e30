package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testkit"
)

// TestClusterLogs: two nodes on the real Redis run the same function; `edgefn logs` on either
// shows the lines its processes wrote on both, tagged with their node, and --follow on one
// goes on with a line the other's process writes next.
func TestClusterLogs(t *testing.T) {
	rurl := redisURL(t)
	name := "e2e-logs-" + id.New()[:12]
	args := []string{"--redis", rurl, "--cluster", name, "--manifests", writeManifest(t, `
name: t
handler: {{testfn}}
triggers:
  - http: {method: GET, path: "/t/{op}"}
`)}
	a := startGateway(t, "", append(args, "--node-id", "node-a")...)
	b := startGateway(t, "", append(args, "--node-id", "node-b", "--admin-token", a.AdminToken)...)
	for _, call := range []struct {
		g      *gateway
		marker string
	}{{a, "from-a"}, {b, "from-b"}} {
		if r := do(t, "GET", call.g.URL+"/t/log?marker="+call.marker, nil); r.Status != 200 {
			t.Fatalf("log on %s = %d %s", call.g.Addr, r.Status, r.Body)
		}
	}
	for _, g := range []*gateway{a, b} {
		testkit.Eventually(t, 10*time.Second, "both nodes' lines in logs through "+g.Addr, func() bool {
			out := mustCLI(t, g, "logs", "t")
			return strings.Contains(out, " node-a stdout stdout line from-a") && strings.Contains(out, " node-b stdout stdout line from-b")
		})
	}

	// Follow on b; a line written on a arrives.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.edgefn, "logs", "t", "--follow", "--tail", "0", "--server", b.AdminURL, "--token", b.AdminToken)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The follow has started once the admin API answered it; write on a until it shows.
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the follow ended")
			}
			if strings.Contains(l, " node-a stdout stdout line followed") {
				return
			}
		case <-tick.C:
			if r := do(t, http.MethodGet, a.URL+"/t/log?marker=followed", nil); r.Status != 200 {
				t.Fatalf("log on a = %d %s", r.Status, r.Body)
			}
		case <-deadline:
			t.Fatal("a line written on node a never reached a follow on node b")
		}
	}
}
