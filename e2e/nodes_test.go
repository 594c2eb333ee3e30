package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testkit"
)

const nodesManifest = `
name: hello
handler: {{hello}}
triggers:
  - http: {method: GET, path: "/hello/{name}"}
`

// nodeList GETs /admin/v1/nodes from g and returns its nodes by id.
func nodeList(t *testing.T, g *gateway) (cluster.List, map[string]cluster.Node) {
	t.Helper()
	r := g.admin(t, "GET", "/admin/v1/nodes", nil)
	if r.Status != 200 {
		t.Fatalf("GET /admin/v1/nodes on %s: %d %s", g.Addr, r.Status, r.Body)
	}
	var l cluster.List
	r.JSON(t, &l)
	byID := map[string]cluster.Node{}
	for _, n := range l.Nodes {
		byID[n.ID] = n
	}
	return l, byID
}

// liveWithHello says whether n is live and runs hello, version 1, ready.
func liveWithHello(n cluster.Node) bool {
	return n.State == cluster.Live && len(n.Functions) == 1 && n.Functions[0].Name == "hello" &&
		n.Functions[0].Version == 1 && n.Functions[0].Ready
}

// TestNodesRegistry: two nodes on the real Redis, in a cluster of this run alone, list each
// other live with their functions; one stopped with SIGTERM is gone on the other at once; one
// restarted on its data dir comes back under its id.
func TestNodesRegistry(t *testing.T) {
	rurl := redisURL(t)
	name := "e2e-nodes-" + id.New()[:12]
	args := []string{"--redis", rurl, "--cluster", name, "--manifests", writeManifest(t, nodesManifest)}
	a := startGateway(t, "", append(args, "--node-id", "node-a")...)
	b := startGateway(t, "", args...) // its id is generated into its data dir
	data, err := readTrimmed(b.DataDir + "/node-id")
	if err != nil {
		t.Fatal(err)
	}
	bID := data
	if !strings.Contains(b.logs.String(), `"node_id":"`+bID+`","cluster":"`+name+`"`) {
		t.Errorf("b does not log its node id %s and cluster at start:\n%s", bID, b.logs.String())
	}

	for _, g := range []*gateway{a, b} {
		testkit.Eventually(t, 15*time.Second, g.Addr+" lists a and b live with hello", func() bool {
			l, nodes := nodeList(t, g)
			return l.Cluster == name && len(l.Nodes) == 2 && liveWithHello(nodes["node-a"]) && liveWithHello(nodes[bID])
		})
	}
	_, nodes := nodeList(t, a)
	if nb := nodes[bID]; nb.Address != b.Addr || nb.AdminAddress != b.Addr || nb.Version == "" || nb.Started.IsZero() {
		t.Errorf("b's record %+v, want address %s", nb, b.Addr)
	}
	started := nodes[bID].Started

	// list counts the nodes that run hello ready; get shows it on each.
	for _, g := range []*gateway{a, b} {
		if out := mustCLI(t, g, "list"); !regexp.MustCompile(`(?m)^hello\s+1\s+ready\s+1/1\s+2/2\s`).MatchString(out) {
			t.Errorf("edgefn list on %s:\n%s\nwant hello on 2/2 nodes", g.Addr, out)
		}
	}
	if out := mustCLI(t, a, "get", "hello"); !strings.Contains(out, "nodes: 2/2\n  node-a: v1 ready\n  "+bID+": v1 ready\n") &&
		!strings.Contains(out, "nodes: 2/2\n  "+bID+": v1 ready\n  node-a: v1 ready\n") {
		t.Errorf("edgefn get hello:\n%s\nwant it ready on both nodes", out)
	}

	// Admin token required.
	if r := do(t, "GET", a.URL+"/admin/v1/nodes", nil); r.Status != 401 {
		t.Errorf("GET /admin/v1/nodes without a token: %d", r.Status)
	}

	b.stop()
	l, nodes := nodeList(t, a)
	if nb := nodes[bID]; nb.State != cluster.Gone || nb.Stopped.IsZero() {
		t.Errorf("after b's SIGTERM, a lists it %+v, want gone", nb)
	}
	if len(l.Nodes) != 2 || l.Nodes[0].ID != "node-a" {
		t.Errorf("live nodes first: %+v", l.Nodes)
	}

	b2 := restartGateway(t, b, args...)
	testkit.Eventually(t, 15*time.Second, "b back live under its id", func() bool {
		l, nodes := nodeList(t, a)
		return len(l.Nodes) == 2 && liveWithHello(nodes[bID]) && nodes[bID].Started.After(started)
	})
	if again, err := readTrimmed(b2.DataDir + "/node-id"); err != nil || again != bID {
		t.Errorf("node-id file after the restart: %q, %v; want %q", again, err, bID)
	}
}

// TestNodesBadNames: an invalid --node-id or --cluster stops serve with a clear error.
func TestNodesBadNames(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--node-id", "web 1"}, `edgefn: --node-id: "web 1" has " "; want 1 to 64 of A-Z a-z 0-9 . _ -`},
		{[]string{"--cluster", "prod:eu"}, `edgefn: --cluster: "prod:eu" has ":"; want 1 to 64 of A-Z a-z 0-9 . _ -`},
		{[]string{"--cluster", strings.Repeat("c", 65)}, `edgefn: --cluster: 65 characters; want 1 to 64 of A-Z a-z 0-9 . _ -`},
		{[]string{"--advertise", "nohost"}, `edgefn: --advertise "nohost": want HOST:PORT`},
	} {
		g, err := launchGateway(t, "", tt.args...)
		if err == nil {
			t.Fatalf("%v: edgefn serve started", tt.args)
		}
		if werr := g.wait(10 * time.Second); werr == nil {
			t.Fatalf("%v: edgefn serve exited 0; want a failure", tt.args)
		}
		if !strings.Contains(g.logs.String(), tt.want) {
			t.Errorf("%v: output %q does not say %q", tt.args, g.logs.String(), tt.want)
		}
	}
}

// readTrimmed reads a file without the white space around its content.
func readTrimmed(path string) (string, error) {
	data, err := os.ReadFile(path)
	return strings.TrimSpace(string(data)), err
}
