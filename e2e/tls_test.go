package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/broker"
	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/internal/testtls"
)

// tlsRedis is a redis-server of the test's own that listens only on a TLS port, with its
// certificates from certs, and an ACL user of the test's own.
type tlsRedis struct {
	Addr     string // 127.0.0.1:PORT of its TLS port
	User     string
	Password string
	tls      *tls.Config // the test's client: the CA and the client certificate
}

// killClients drops the connections of the test's user.
func (r tlsRedis) killClients(t *testing.T) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr, TLSConfig: r.tls, Username: r.User, Password: r.Password, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := c.Do(ctx, "CLIENT", "KILL", "USER", r.User, "SKIPME", "yes").Int(); err != nil || n == 0 {
		t.Fatalf("CLIENT KILL USER %s: %d killed, %v", r.User, n, err)
	}
}

// rotatePassword gives the test's user a new password and drops its connections: a
// gateway holding the old one is locked out.
func (r tlsRedis) rotatePassword(t *testing.T) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr, TLSConfig: r.tls, Username: r.User, Password: r.Password, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Do(ctx, "ACL", "SETUSER", r.User, "resetpass", ">new-"+randomHex(t)).Err(); err != nil {
		t.Fatal(err)
	}
	// It drops this connection too: its error says nothing.
	_ = c.Do(ctx, "CLIENT", "KILL", "USER", r.User).Err()
}

// URL is the rediss:// URL of the test's user with password.
func (r tlsRedis) URL(password string) string {
	return "rediss://" + r.User + ":" + password + "@" + r.Addr + "/0"
}

// startTLSRedis starts redis-server with only a TLS port; with requireClient, clients must
// show a certificate the CA of certs signed (tls-auth-clients yes). It creates an ACL user
// and turns the default user off, so that only that user's password opens it. Without
// redis-server, or one built without TLS, the test is skipped loudly (failed under CI).
func startTLSRedis(t *testing.T, certs testtls.Files, requireClient bool) tlsRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		needTool(t, "redis-server: "+err.Error())
	}
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err != nil {
		needTool(t, fmt.Sprintf("redis-server --version: %v %s", err, out))
	}
	authClients := "optional"
	if requireClient {
		authClients = "yes"
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", "0", "--bind", "127.0.0.1", "--tls-port", port,
		"--tls-cert-file", certs.ServerCert, "--tls-key-file", certs.ServerKey,
		"--tls-ca-cert-file", certs.CA, "--tls-auth-clients", authClients,
		"--dir", dir, "--save", "", "--appendonly", "no")
	logs := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("redis-server log:\n%s", logs.String())
		}
	})
	if strings.Contains(logs.String(), "not built with TLS") {
		needTool(t, "redis-server was built without TLS")
	}

	// The test's own client: the CA and the client certificate, as the default user.
	cfg, err := broker.TLSFiles{CA: certs.CA, Cert: certs.ClientCert, Key: certs.ClientKey}.Config("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: addr, TLSConfig: cfg, MaxRetries: -1, PoolSize: 1})
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	testkit.Eventually(t, 15*time.Second, "the TLS redis-server to answer", func() bool {
		select {
		case <-done:
			t.Fatalf("redis-server exited:\n%s", logs.String())
		default:
		}
		return admin.Ping(ctx).Err() == nil
	})
	r := tlsRedis{Addr: addr, User: "edgefn-app", Password: "pw-" + randomHex(t), tls: cfg}
	if err := admin.Do(ctx, "ACL", "SETUSER", r.User, "on", ">"+r.Password, "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "off").Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

// needTool skips the test loudly, or fails it under CI, which must have the tool.
func needTool(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("!!! SKIPPED: " + msg)
}

func randomHex(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// tlsProxy is a TLS-terminating proxy in front of a broker: RabbitMQ over TLS without
// reconfiguring the machine's RabbitMQ.
type tlsProxy struct {
	*proxy
	n atomic.Int64 // TLS handshakes completed
}

// startTLSProxy starts a tlsProxy in front of target.
func startTLSProxy(t testing.TB, target string, cfg *tls.Config) *tlsProxy {
	p := &tlsProxy{proxy: &proxy{t: t, target: target, conns: map[net.Conn]struct{}{}}}
	cfg = cfg.Clone()
	cfg.VerifyConnection = func(tls.ConnectionState) error { p.n.Add(1); return nil }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = ln.Addr().String()
	p.serve(tls.NewListener(ln, cfg))
	t.Cleanup(p.cut)
	return p
}

// accepted counts the TLS handshakes the proxy completed.
func (p *tlsProxy) accepted() int64 { return p.n.Load() }

// drop closes every proxied connection but keeps listening: the broker dropped its clients.
func (p *tlsProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// tlsAMQP is the RabbitMQ of the tests behind a TLS proxy whose certificates come from
// certs (with requireClient, the proxy wants a client certificate the CA signed): the amqps
// URL with password, the password, and the proxy.
func tlsAMQP(t *testing.T, certs testtls.Files, requireClient bool) (func(password string) string, string, *tlsProxy) {
	t.Helper()
	u, err := url.Parse(amqpURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startTLSProxy(t, u.Host, certs.ServerConfig(t, requireClient))
	password, _ := u.User.Password()
	user := u.User.Username()
	return func(pw string) string {
		v := *u
		v.Scheme, v.Host, v.User = "amqps", p.Addr, url.UserPassword(user, pw)
		return v.String()
	}, password, p
}

// tlsFlags are the CA and client certificate flags of broker ("redis" or "amqp").
func tlsFlags(broker string, certs testtls.Files, withClient bool) []string {
	args := []string{"--" + broker + "-ca", certs.CA}
	if withClient {
		args = append(args, "--"+broker+"-cert", certs.ClientCert, "--"+broker+"-key", certs.ClientKey)
	}
	return args
}

// TestBrokersOverTLS: the gateway reaches a Redis that speaks only TLS and wants a client
// certificate, with an ACL user, and RabbitMQ through a TLS proxy that wants one too; a
// stream and a queue trigger work over them; the passwords show nowhere.
func TestBrokersOverTLS(t *testing.T) {
	certs := testtls.New(t, "e2e-brokers")
	redis := startTLSRedis(t, certs, true)
	amqps, amqpPassword, ap := tlsAMQP(t, certs, true)

	rec := filepath.Join(t.TempDir(), "rec")
	queue, stream := uniqueName("q"), uniqueName("s")
	args := append([]string{"--redis", redis.URL(redis.Password), "--amqp", amqps(amqpPassword)},
		append(tlsFlags("redis", certs, true), tlsFlags("amqp", certs, true)...)...)
	g := startGateway(t, "", append(args, "--manifests", writeManifest(t, `
name: rec
handler: {{testfn}}
sandbox: off
env: {DEFAULT_OP: record, RECORD_FILE: "`+rec+`"}
triggers:
  - queue: {name: `+queue+`}
  - stream: {name: `+stream+`}
`))...)
	r := do(t, "GET", g.URL+"/readyz", nil)
	if r.Status != 200 {
		t.Fatalf("/readyz %d %s", r.Status, r.Body)
	}
	mustCLI(t, g, "publish", "--queue", queue, "--id", "over-tls-q", "--data", "{}")
	mustCLI(t, g, "publish", "--stream", stream, "--id", "over-tls-s", "--data", "{}")
	testkit.Eventually(t, 30*time.Second, "the queue and the stream message over TLS", func() bool {
		seen := map[string]bool{}
		for _, l := range readRecords(t, rec) {
			seen[l.ID] = true
		}
		return seen["over-tls-q"] && seen["over-tls-s"]
	})
	acceptedBefore := ap.accepted()
	// The links reconnect over TLS: the proxy drops RabbitMQ's connections, Redis drops
	// the gateway's clients.
	ap.drop()
	redis.killClients(t)
	testkit.Eventually(t, 30*time.Second, "/readyz 200 after the reconnects", func() bool {
		r, err := tryDo("GET", g.URL+"/readyz", nil)
		return err == nil && r.Status == 200 && ap.accepted() > acceptedBefore
	})
	mustCLI(t, g, "publish", "--queue", queue, "--id", "reconnected-q", "--data", "{}")
	mustCLI(t, g, "publish", "--stream", stream, "--id", "reconnected-s", "--data", "{}")
	testkit.Eventually(t, 30*time.Second, "the messages after the reconnects", func() bool {
		seen := map[string]bool{}
		for _, l := range readRecords(t, rec) {
			seen[l.ID] = true
		}
		return seen["reconnected-q"] && seen["reconnected-s"]
	})
	nodes := mustCLI(t, g, "nodes")
	id, err := readTrimmed(filepath.Join(g.DataDir, "node-id"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nodes, id) {
		t.Errorf("edgefn nodes does not list the node %s:\n%s", id, nodes)
	}
	g.stop()
	assertNoSecret(t, map[string]string{"/readyz": string(r.Body), "edgefn nodes": nodes, "the gateway log": g.logs.String()},
		redis.Password, "guest:"+amqpPassword, ":"+amqpPassword+"@")
}

// TestBrokersTLSRefusals: a broker whose certificate the CA did not sign, and a broker that
// wants a client certificate the gateway does not show, are refused.
func TestBrokersTLSRefusals(t *testing.T) {
	certs, other := testtls.New(t, "e2e-brokers"), testtls.New(t, "e2e-other")
	redis := startTLSRedis(t, certs, true)
	amqps, amqpPassword, _ := tlsAMQP(t, certs, true)
	const unknownCA = "certificate signed by unknown authority"

	// A node that cannot reach its Redis at start exits, saying why.
	t.Run("redis/unknown CA", func(t *testing.T) {
		_, err := launchGateway(t, "", append([]string{"--redis", redis.URL(redis.Password)}, tlsFlags("redis", other, true)...)...)
		if err == nil || !strings.Contains(err.Error(), unknownCA) {
			t.Errorf("serve with a Redis whose certificate another CA signed: %v, want %q", err, unknownCA)
		}
	})
	t.Run("redis/no client certificate", func(t *testing.T) {
		_, err := launchGateway(t, "", append([]string{"--redis", redis.URL(redis.Password)}, tlsFlags("redis", certs, false)...)...)
		if err == nil || !strings.Contains(err.Error(), "tls: certificate required") {
			t.Errorf("serve without the client certificate Redis wants: %v, want %q", err, "tls: certificate required")
		}
	})
	t.Run("amqp/unknown CA", func(t *testing.T) {
		_, err := launchGateway(t, "", append([]string{"--amqp", amqps(amqpPassword)}, tlsFlags("amqp", other, true)...)...)
		if err == nil || !strings.Contains(err.Error(), unknownCA) {
			t.Errorf("serve with a RabbitMQ whose certificate another CA signed: %v, want %q", err, unknownCA)
		}
	})
	t.Run("amqp/no client certificate", func(t *testing.T) {
		_, err := launchGateway(t, "", append([]string{"--amqp", amqps(amqpPassword)}, tlsFlags("amqp", certs, false)...)...)
		if err == nil || !strings.Contains(err.Error(), "amqp dial") {
			t.Errorf("serve without the client certificate RabbitMQ wants: %v, want a dial error", err)
		}
	})
}

// TestBrokerPasswordsNotShown: a wrong password and a right one of each broker; the gateway's
// whole log, /readyz and `edgefn nodes` never show either.
func TestBrokerPasswordsNotShown(t *testing.T) {
	certs := testtls.New(t, "e2e-brokers")
	redis := startTLSRedis(t, certs, false)
	amqps, amqpPassword, _ := tlsAMQP(t, certs, false)
	redisFlags, amqpFlags := tlsFlags("redis", certs, false), tlsFlags("amqp", certs, false)
	wrongRedis, wrongAMQP := "wrong-redis-"+randomHex(t), "wrong-amqp-"+randomHex(t)
	secrets := []string{redis.Password, wrongRedis, wrongAMQP, "guest:" + amqpPassword, ":" + amqpPassword + "@"}

	t.Run("wrong redis password", func(t *testing.T) {
		args := append([]string{"--redis", redis.URL(wrongRedis), "--amqp", amqps(amqpPassword)}, append(redisFlags, amqpFlags...)...)
		_, err := launchGateway(t, "", args...)
		if err == nil {
			t.Fatal("serve started with a wrong Redis password")
		}
		if !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("serve's error does not say why:\n%v", err)
		}
		assertNoSecret(t, map[string]string{"serve's error and log": err.Error()}, secrets...)
	})
	t.Run("wrong amqp password", func(t *testing.T) {
		args := append([]string{"--redis", redis.URL(redis.Password), "--amqp", amqps(wrongAMQP)}, append(redisFlags, amqpFlags...)...)
		_, err := launchGateway(t, "", args...)
		if err == nil {
			t.Fatal("serve started with a wrong RabbitMQ password")
		}
		if !strings.Contains(err.Error(), "amqps://guest:xxxxx@") {
			t.Errorf("serve's error does not name the broker with the password masked:\n%v", err)
		}
		assertNoSecret(t, map[string]string{"serve's error and log": err.Error()}, secrets...)
	})
	t.Run("right passwords, then Redis changes its password", func(t *testing.T) {
		// RabbitMQ's CA comes from its variable this time.
		t.Setenv("EDGEFN_AMQP_CA", certs.CA)
		args := append([]string{"--redis", redis.URL(redis.Password), "--amqp", amqps(amqpPassword)}, redisFlags...)
		g := startGateway(t, "", args...)
		r := do(t, "GET", g.URL+"/readyz", nil)
		if r.Status != 200 {
			t.Fatalf("/readyz %d %s", r.Status, r.Body)
		}
		nodes := mustCLI(t, g, "nodes")
		// Now the gateway's password is wrong: it reconnects, fails, and says so.
		redis.rotatePassword(t)
		down := awaitNotReady(t, g, "WRONGPASS")
		out, errOut, _ := cli(t, g, "nodes")
		g.stop()
		assertNoSecret(t, map[string]string{
			"/readyz": string(r.Body), "edgefn nodes": nodes, "/readyz once locked out": down,
			"edgefn nodes once locked out": out + errOut, "the gateway log": g.logs.String(),
		}, secrets...)
	})
}

// awaitNotReady waits for /readyz to say 503 naming what, and returns its body.
func awaitNotReady(t *testing.T, g *gateway, what string) string {
	t.Helper()
	var body string
	testkit.Eventually(t, 20*time.Second, "/readyz to report "+what+" down", func() bool {
		r, err := tryDo("GET", g.URL+"/readyz", nil)
		if err != nil {
			t.Fatalf("/readyz: %v", err)
		}
		body = string(r.Body)
		return r.Status == 503 && strings.Contains(body, what)
	})
	return body
}

// assertNoSecret fails when any text shows any secret.
func assertNoSecret(t *testing.T, texts map[string]string, secrets ...string) {
	t.Helper()
	for name, text := range texts {
		if text == "" {
			t.Errorf("%s is empty: nothing was checked", name)
		}
		for _, s := range secrets {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s shows the secret %q: ...%s...", name, s, text[max(0, i-200):min(len(text), i+len(s)+50)])
			}
		}
	}
}
