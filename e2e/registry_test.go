package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime"
)

// registryCluster is the flags of a node of a cluster of this test alone on the real Redis,
// and the cluster's name; the cluster's keys are removed when the test ends.
func registryCluster(t *testing.T) ([]string, string) {
	t.Helper()
	rurl := redisURL(t)
	name := "e2e-reg-" + id.New()[:12]
	t.Cleanup(func() { dropCluster(rurl, name) })
	return []string{"--redis", rurl, "--cluster", name}, name
}

// getInfo GETs a function from g's admin API: its status and state.
func getInfo(t testing.TB, g *gateway, name string) (int, runtime.Info) {
	t.Helper()
	r := g.admin(t, "GET", "/admin/v1/functions/"+name, nil)
	var info runtime.Info
	if r.Status == 200 {
		r.JSON(t, &info)
	}
	return r.Status, info
}

// servesVersion says whether g serves t at version v (its VERSION env and the admin API's
// version number agree with the wanted ones).
func servesVersion(t testing.TB, g *gateway, env string, n int) bool {
	r, err := tryDo("GET", g.URL+"/t/info", nil)
	if err != nil || r.Status != 200 || !strings.Contains(string(r.Body), `"version":"`+env+`"`) {
		return false
	}
	status, info := getInfo(t, g, "t")
	return status == 200 && info.Version == n && info.State == "ready"
}

// TestRegistryEveryNodeConverges: three nodes on one registry. A deploy through A is served
// by B and C; redeploys keep every node's traffic whole; a node started afterwards serves the
// function before it says it is ready; a rollback through B and a delete through C reach
// every node; --if-version refuses a stale version with 409.
func TestRegistryEveryNodeConverges(t *testing.T) {
	args, _ := registryCluster(t)
	a := startGateway(t, "", append(args, "--node-id", "a")...)
	b := startGateway(t, "", append(args, "--node-id", "b")...)
	c := startGateway(t, "", append(args, "--node-id", "c")...)
	nodes := []*gateway{a, b, c}

	out := mustCLI(t, a, "deploy", versionedManifest(t, 1))
	if !strings.Contains(out, "deployed t version 1") {
		t.Fatalf("deploy said %q", out)
	}
	for _, g := range nodes {
		testkit.Eventually(t, 15*time.Second, g.Addr+" serves version 1", func() bool { return servesVersion(t, g, "1", 1) })
	}

	// Traffic on B and C while A deploys version 2: none fails.
	var stop atomic.Bool
	var failures, total atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for _, g := range []*gateway{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r, err := tryDo("GET", g.URL+"/t/info", nil)
				total.Add(1)
				if err != nil || r.Status != 200 {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v %d %s", g.Addr, err, r.Status, r.Body))
				}
			}
		}()
	}
	testkit.Eventually(t, 10*time.Second, "traffic to flow", func() bool { return total.Load() > 50 })
	out = mustCLI(t, a, "deploy", versionedManifest(t, 2))
	if !strings.Contains(out, "deployed t version 2") {
		t.Fatalf("redeploy said %q", out)
	}
	for _, g := range nodes {
		testkit.Eventually(t, 15*time.Second, g.Addr+" serves version 2", func() bool { return servesVersion(t, g, "2", 2) })
	}
	stop.Store(true)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests to B and C failed across the redeploy; first: %v", n, total.Load(), firstErr.Load())
	}

	// A node that starts now serves version 2 once it says it is ready.
	d, err := launchGateway(t, "", append(args, "--node-id", "d")...)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "d ready", func() bool {
		r, err := tryDo("GET", d.URL+"/readyz", nil)
		return err == nil && r.Status == 200
	})
	if !servesVersion(t, d, "2", 2) {
		t.Fatalf("d is ready but does not serve version 2:\n%s", d.logs.String())
	}
	nodes = append(nodes, d)

	// --if-version.
	if _, errOut, code := cli(t, b, "deploy", "--if-version", "1", versionedManifest(t, 3)); code == 0 ||
		!strings.Contains(errOut, `function "t" is at version 2, not 1`) {
		t.Fatalf("deploy --if-version 1 at version 2: exit %d, %s", code, errOut)
	}
	if r := b.admin(t, "POST", "/admin/v1/functions/t/rollback?ifVersion=7", nil); r.Status != 409 ||
		!strings.Contains(string(r.Body), `"version_conflict"`) {
		t.Fatalf("rollback?ifVersion=7 at version 2: %d %s", r.Status, r.Body)
	}

	// Rollback through B: version 1 again, under its own number, everywhere.
	out = mustCLI(t, b, "rollback", "--if-version", "2", "t")
	if !strings.Contains(out, "rolled back to version 1") {
		t.Fatalf("rollback said %q", out)
	}
	for _, g := range nodes {
		testkit.Eventually(t, 15*time.Second, g.Addr+" serves version 1 again", func() bool { return servesVersion(t, g, "1", 1) })
	}

	// Delete through C: 404 everywhere; a deploy after it takes a new number.
	mustCLI(t, c, "delete", "t")
	for _, g := range nodes {
		testkit.Eventually(t, 15*time.Second, g.Addr+" answers 404", func() bool {
			r, err := tryDo("GET", g.URL+"/t/info", nil)
			status, _ := getInfo(t, g, "t")
			return err == nil && r.Status == 404 && status == 404
		})
	}
	out = mustCLI(t, c, "deploy", versionedManifest(t, 4))
	if !strings.Contains(out, "deployed t version 3") {
		t.Fatalf("deploy after the delete said %q; want version 3 (1 and 2 are never given again)", out)
	}
}

// TestRegistryConcurrentDeploys: two CLIs deploy the same function at once through two
// nodes: two distinct versions, and every node ends on the same one.
func TestRegistryConcurrentDeploys(t *testing.T) {
	args, _ := registryCluster(t)
	a := startGateway(t, "", append(args, "--node-id", "a")...)
	b := startGateway(t, "", append(args, "--node-id", "b")...)
	outs := make([]string, 2)
	var wg sync.WaitGroup
	for i, g := range []*gateway{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errOut, code := cli(t, g, "deploy", versionedManifest(t, 10+i))
			if code != 0 {
				t.Errorf("deploy through %s: exit %d %s", g.Addr, code, errOut)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	joined := outs[0] + outs[1]
	if !strings.Contains(joined, "deployed t version 1") || !strings.Contains(joined, "deployed t version 2") {
		t.Fatalf("two deploys said %q; want versions 1 and 2", joined)
	}
	testkit.Eventually(t, 15*time.Second, "both nodes on the same version", func() bool {
		sa, ia := getInfo(t, a, "t")
		sb, ib := getInfo(t, b, "t")
		return sa == 200 && sb == 200 && ia.Version == ib.Version && ia.State == "ready" && ib.State == "ready" &&
			ia.RegistryError == "" && ib.RegistryError == ""
	})
}

// TestRegistryCorruptBlob: a version whose binary's bytes were changed in Redis is started
// by no node; each keeps the version it ran and says why in get.
func TestRegistryCorruptBlob(t *testing.T) {
	args, name := registryCluster(t)
	a := startGateway(t, "", append(args, "--node-id", "a")...)
	b := startGateway(t, "", append(args, "--node-id", "b")...)
	mustCLI(t, a, "deploy", versionedManifest(t, 1))
	for _, g := range []*gateway{a, b} {
		testkit.Eventually(t, 15*time.Second, g.Addr+" serves version 1", func() bool { return servesVersion(t, g, "1", 1) })
	}

	// Version 2 is written to the registry as a deploy would, with a binary of its own
	// (testfn with a byte more), whose blob holds changed bytes: one byte of its first
	// megabyte flipped.
	content, err := os.ReadFile(bins.testfn)
	if err != nil {
		t.Fatal(err)
	}
	content = append(content, 0)
	sum := sha256.Sum256(content)
	hexSum := hex.EncodeToString(sum[:])
	path := filepath.Join(t.TempDir(), "testfn2")
	if err := os.WriteFile(path, content, 0o700); err != nil {
		t.Fatal(err)
	}
	changed := slices.Clone(content)
	changed[len(changed)/3] ^= 0xff
	changedPath := filepath.Join(t.TempDir(), "changed")
	if err := os.WriteFile(changedPath, changed, 0o700); err != nil {
		t.Fatal(err)
	}
	opts, _ := goredis.ParseURL(flagValue(args, "--redis"))
	rc := goredis.NewClient(opts)
	defer rc.Close()
	ctx := context.Background()
	fns, _ := cluster.NewRedisFunctions(rc, name)
	blobs, _ := cluster.NewRedisBlobs(rc, name, 0)
	if err := blobs.Put(ctx, hexSum, changedPath); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(versionedManifest(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	src = []byte(strings.ReplaceAll(string(src), bins.testfn, path))
	n, err := fns.Next(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fns.Commit(ctx, cluster.Entry{Name: "t", Version: n, File: "t.yaml", Manifest: string(src),
		SHA256: hexSum, Size: int64(len(content)), DeployedAt: time.Now(), Node: "test"}, 0, 5); err != nil {
		t.Fatal(err)
	}

	for _, g := range []*gateway{a, b} {
		testkit.Eventually(t, 15*time.Second, g.Addr+" reports the bad binary", func() bool {
			status, info := getInfo(t, g, "t")
			return status == 200 && strings.Contains(info.RegistryError, "does not match its sha256")
		})
		if !servesVersion(t, g, "1", 1) {
			t.Errorf("%s stopped serving version 1", g.Addr)
		}
		out := mustCLI(t, g, "get", "t")
		if !strings.Contains(out, "registry error: version 2 not started") {
			t.Errorf("get on %s:\n%s", g.Addr, out)
		}
	}
	// A node that starts now runs nothing of t and says why.
	c := startGateway(t, "", append(args, "--node-id", "c")...)
	testkit.Eventually(t, 15*time.Second, "c reports the bad binary", func() bool {
		status, info := getInfo(t, c, "t")
		return status == 200 && info.State == "failed" && strings.Contains(info.RegistryError, "does not match its sha256")
	})
	if r := do(t, "GET", c.URL+"/t/info", nil); r.Status != 404 {
		t.Errorf("c answers %d for a function it must not run", r.Status)
	}
}

// TestRegistryStartupManifestsAndLoss: a node's --manifests fill a registry that lacks the
// function; a node whose manifest differs runs the registry's version and says so once, with
// the command that would deploy it. A registry that comes back empty is not a delete: the
// nodes keep serving and say so.
func TestRegistryStartupManifestsAndLoss(t *testing.T) {
	args, name := registryCluster(t)
	a := startGateway(t, "", append(args, "--node-id", "a", "--manifests", versionedManifest(t, 1))...)
	other := versionedManifest(t, 2)
	b := startGateway(t, "", append(args, "--node-id", "b", "--manifests", other)...)
	for _, g := range []*gateway{a, b} {
		testkit.Eventually(t, 15*time.Second, g.Addr+" serves version 1", func() bool { return servesVersion(t, g, "1", 1) })
	}
	logs := b.logs.String()
	if strings.Count(logs, "start-up manifests differ from the function registry") != 1 ||
		!strings.Contains(logs, `"deploy_with":"edgefn deploy `+other+`"`) || !strings.Contains(logs, `"functions":["t"]`) {
		t.Errorf("b's log does not name t once with the command that deploys it:\n%s", logs)
	}

	// Redis loses the cluster's keys (as a restart without persistence would).
	opts, _ := goredis.ParseURL(flagValue(args, "--redis"))
	rc := goredis.NewClient(opts)
	defer rc.Close()
	ctx := context.Background()
	keys, _ := rc.Keys(ctx, cluster.RedisPrefix(name)+"*").Result()
	var registryKeys []string
	for _, k := range keys {
		if !strings.Contains(k, ":node") {
			registryKeys = append(registryKeys, k)
		}
	}
	rc.Del(ctx, registryKeys...)
	// A deploy of another function starts a new registry: the nodes see it replaced.
	mustCLI(t, a, "deploy", writeManifest(t, nodesManifest))
	for _, g := range []*gateway{a, b} {
		testkit.Eventually(t, 15*time.Second, g.Addr+" keeps t and says so", func() bool {
			return strings.Contains(g.logs.String(), "the registry lost its data") &&
				strings.Contains(g.logs.String(), "keeping functions the registry does not hold")
		})
		if r := do(t, "GET", g.URL+"/t/info", nil); r.Status != http.StatusOK {
			t.Errorf("%s: t answers %d after the registry lost it", g.Addr, r.Status)
		}
	}
}

// TestRegistryRedisAway: a node cut off from Redis keeps serving what it runs, says it is not
// ready, and once Redis is back runs what was deployed meanwhile before it says it is ready.
func TestRegistryRedisAway(t *testing.T) {
	args, name := registryCluster(t)
	cut, p := viaProxy(t, flagValue(args, "--redis"))
	a := startGateway(t, "", append(args, "--node-id", "a")...)
	b := startGateway(t, "", "--redis", cut, "--cluster", name, "--node-id", "b")
	mustCLI(t, a, "deploy", versionedManifest(t, 1))
	testkit.Eventually(t, 15*time.Second, "b serves version 1", func() bool { return servesVersion(t, b, "1", 1) })

	p.cut()
	readyz := func() (int, string) {
		r, err := tryDo("GET", b.URL+"/readyz", nil)
		if err != nil {
			t.Fatalf("/readyz: %v", err)
		}
		return r.Status, string(r.Body)
	}
	testkit.Eventually(t, 20*time.Second, "b not ready without Redis", func() bool { s, _ := readyz(); return s == 503 })
	mustCLI(t, a, "deploy", versionedManifest(t, 2))
	if !servesVersion(t, b, "1", 1) {
		t.Fatal("b stopped serving version 1 while Redis was away")
	}

	p.restore()
	testkit.Eventually(t, 30*time.Second, "b ready again", func() bool { s, _ := readyz(); return s == 200 })
	if !servesVersion(t, b, "2", 2) {
		_, body := readyz()
		t.Fatalf("b is ready again but does not serve version 2 (readyz %s)", body)
	}
}

// TestDeployWaitsForEveryNode: deploy returns once every live node runs the version, so the
// other node serves it at once; a node killed before a deploy is reported, and the deploy
// fails; once it is gone, a delete waits for the node left alone.
func TestDeployWaitsForEveryNode(t *testing.T) {
	args, _ := registryCluster(t)
	a := startGateway(t, "", append(args, "--node-id", "a")...)
	b := startGateway(t, "", append(args, "--node-id", "b")...)
	out := mustCLI(t, a, "deploy", versionedManifest(t, 1))
	if !strings.Contains(out, "deployed t version 1\n") || !strings.Contains(out, "  a: ok\n") || !strings.Contains(out, "  b: ok\n") {
		t.Fatalf("deploy said %q; want both nodes ok", out)
	}
	if !servesVersion(t, b, "1", 1) {
		t.Fatal("b does not serve version 1 when the deploy returned")
	}

	b.kill()
	out, errOut, code := cli(t, a, "deploy", "--wait", "3s", versionedManifest(t, 2))
	if code == 0 || !strings.Contains(errOut, "not every node runs the change after 3s: b") ||
		!strings.Contains(out, "  a: ok\n") || !strings.Contains(out, "  b: not yet: t v1 ready\n") {
		t.Fatalf("deploy with b killed: exit %d, stdout %q, stderr %q; want b reported", code, out, errOut)
	}
	out = mustCLI(t, a, "delete", "--wait", "30s", "t")
	if out != "deleted t\n" {
		t.Errorf("delete once b is gone said %q", out)
	}
}
