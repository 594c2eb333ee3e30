package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/internal/testkit"
)

// bins holds the binaries TestMain builds once for every test.
var bins struct {
	dir     string
	edgefn  string
	testfn  string
	hello   string
	echo    string
	notify  string
	repoDir string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "edgefn-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	repo, _ := filepath.Abs("..")
	bins.dir, bins.repoDir = dir, repo
	builds := []struct {
		out *string
		pkg string
	}{
		{&bins.edgefn, "./cmd/edgefn"},
		{&bins.testfn, "./internal/testfn"},
		{&bins.hello, "./functions/hello"},
		{&bins.echo, "./functions/echo"},
		{&bins.notify, "./functions/notify"},
	}
	for _, b := range builds {
		*b.out = filepath.Join(dir, filepath.Base(b.pkg))
		// The gateway is built with -race like the tests; plugins without, as users build them.
		args := []string{"build", "-o", *b.out}
		if b.pkg == "./cmd/edgefn" && raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, b.pkg)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

// clusterAdminToken is the admin token the harness gives gateways started with --redis and
// no token of their own: nodes sharing a Redis must share a token.
const clusterAdminToken = "e2e-cluster-admin-token"

// gateway is one running `edgefn serve` process.
type gateway struct {
	t       testing.TB
	cmd     *exec.Cmd
	URL     string
	Addr    string
	DataDir string
	// AdminURL is where the admin API answers: URL, or the --admin-listen address.
	AdminURL string
	// AdminToken is the admin token: the one given (--admin-token, --admin-token-file) or the
	// one the gateway generated into DataDir; given says which.
	AdminToken string
	given      bool
	logs       *testkit.SyncBuffer
	done       chan struct{}
	exitErr    error
}

// startGateway runs edgefn serve with args on a free port and waits until /healthz answers.
// The data dir is dataDir, or a fresh one when empty.
func startGateway(t testing.TB, dataDir string, args ...string) *gateway {
	t.Helper()
	g, err := launchGateway(t, dataDir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// restartGateway starts edgefn serve with args again on the address and data dir of g, which
// must have stopped: clients that reconnect to the same URL find the new process.
func restartGateway(t testing.TB, g *gateway, args ...string) *gateway {
	t.Helper()
	g2, err := launchGatewayAt(t, g.Addr, g.DataDir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return g2
}

func launchGateway(t testing.TB, dataDir string, args ...string) (*gateway, error) {
	return launchGatewayAt(t, freeAddr(t), dataDir, args...)
}

func launchGatewayAt(t testing.TB, addr, dataDir string, args ...string) (*gateway, error) {
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	g := &gateway{t: t, Addr: addr, URL: "http://" + addr, DataDir: dataDir, logs: &testkit.SyncBuffer{}, done: make(chan struct{})}
	g.AdminURL = g.URL
	if flagValue(args, "--redis") != "" && flagValue(args, "--admin-token") == "" && flagValue(args, "--admin-token-file") == "" {
		args = append(slices.Clip(args), "--admin-token", clusterAdminToken)
	}
	if r := flagValue(args, "--redis"); r != "" && flagValue(args, "--cluster") == "" {
		args = append(slices.Clip(args), "--cluster", dataDirCluster(t, r, dataDir))
	}
	if a := flagValue(args, "--admin-listen"); a != "" {
		g.AdminURL = "http://" + a
	}
	all := append([]string{"serve", "--listen", addr, "--data-dir", dataDir, "--grace", "5s"}, args...)
	g.cmd = exec.Command(bins.edgefn, all...)
	g.cmd.Stdout = g.logs
	g.cmd.Stderr = g.logs
	g.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { g.exitErr = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			return g, fmt.Errorf("edgefn serve exited: %v\n%s", g.exitErr, g.logs.String())
		default:
		}
		resp, err := http.Get(g.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				g.awaitReady()
				return g, g.readAdminToken(args)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return g, fmt.Errorf("edgefn serve did not answer /healthz in time\n%s", g.logs.String())
}

// dataDirClusters are the cluster names dataDirCluster gave, by data dir.
var dataDirClusters sync.Map

// dataDirCluster is the cluster of a gateway started with --redis and no --cluster: one of its
// data dir alone (a restart on it is the same cluster), so that the function registry of each
// such node is its own, as its --data-dir was before the registry, and no run shares one with
// another. Its keys are removed when the test ends. Tests of several nodes in one cluster
// give --cluster.
func dataDirCluster(t testing.TB, redisURL, dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	name := "e2e-dir-" + hex.EncodeToString(sum[:8])
	if _, loaded := dataDirClusters.LoadOrStore(name, true); !loaded {
		t.Cleanup(func() { dropCluster(redisURL, name) })
	}
	return name
}

// dropCluster removes every key of the cluster name from the Redis at redisURL.
func dropCluster(redisURL, name string) {
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		return
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	if keys, _ := c.Keys(ctx, cluster.RedisPrefix(name)+"*").Result(); len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}

// flagValue is the value of the last flag name in args ("--name value" or "--name=value"),
// "" when it is not there.
func flagValue(args []string, name string) string {
	v := ""
	for i, a := range args {
		if a == name && i+1 < len(args) {
			v = args[i+1]
		} else if rest, ok := strings.CutPrefix(a, name+"="); ok {
			v = rest
		}
	}
	return v
}

// readAdminToken sets g.AdminToken from the flags, or from the file the gateway generated.
func (g *gateway) readAdminToken(args []string) error {
	g.AdminToken, g.given = flagValue(args, "--admin-token"), true
	if f := flagValue(args, "--admin-token-file"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		g.AdminToken = strings.TrimSpace(string(data))
	}
	if g.AdminToken != "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(g.DataDir, "admin-token"))
	if err != nil {
		return fmt.Errorf("the generated admin token: %w", err)
	}
	g.AdminToken, g.given = strings.TrimSpace(string(data)), false
	return nil
}

// admin sends a request to the admin API with the admin token; path starts with /admin.
func (g *gateway) admin(t testing.TB, method, path string, body []byte, headers ...string) response {
	t.Helper()
	return do(t, method, g.AdminURL+path, body, append(slices.Clip(headers), "Authorization", "Bearer "+g.AdminToken)...)
}

// awaitReady waits a while for /readyz to say 200: the functions have a ready instance and
// their queue and stream consumers have started (a stream trigger reading from "new" misses
// what is published before). It does not fail: tests that start a gateway that cannot be
// ready check /readyz themselves.
func (g *gateway) awaitReady() {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(g.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the process.
func (g *gateway) stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// kill sends SIGKILL and waits for the process.
func (g *gateway) kill() {
	_ = g.cmd.Process.Kill()
	<-g.done
}

// wait waits for the process to exit by itself.
func (g *gateway) wait(d time.Duration) error {
	select {
	case <-g.done:
		return g.exitErr
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeManifest writes a manifest into a temp folder and returns its path. {{testfn}},
// {{hello}}, {{echo}} and {{notify}} stand for the built plugins.
func writeManifest(t testing.TB, yaml string) string {
	t.Helper()
	r := strings.NewReplacer("{{testfn}}", bins.testfn, "{{hello}}", bins.hello, "{{echo}}", bins.echo, "{{notify}}", bins.notify)
	path := filepath.Join(t.TempDir(), "fn.yaml")
	if err := os.WriteFile(path, []byte(r.Replace(yaml)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// response is a completed HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

var client = &http.Client{Timeout: 60 * time.Second}

// do sends a request; headers are key, value pairs.
func do(t testing.TB, method, url string, body []byte, headers ...string) response {
	t.Helper()
	r, err := tryDo(method, url, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tryDo(method, url string, body []byte, headers ...string) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}
