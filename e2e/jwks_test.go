package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksManifest has a jwt route and a topic only its own subject may subscribe to.
const jwksManifest = `
kind: topics
rules:
  - match: user.{id}
    subscribe: 'claims.sub == params.id'
---
name: t
handler: {{testfn}}
triggers:
  - http: {method: GET, path: "/secure/{op}", auth: jwt}
`

// issuer is a token issuer with a JWKS endpoint whose keys the test rotates.
type issuer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey // kid → key; all are published
}

func newIssuer(t *testing.T, kids ...string) *issuer {
	iss := &issuer{keys: map[string]*rsa.PrivateKey{}}
	for _, kid := range kids {
		iss.addKey(t, kid)
	}
	iss.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		iss.mu.Lock()
		defer iss.mu.Unlock()
		b64 := base64.RawURLEncoding.EncodeToString
		var set []map[string]string
		for kid, k := range iss.keys {
			set = append(set, map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
				"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
	}))
	t.Cleanup(iss.srv.Close)
	return iss
}

func (iss *issuer) addKey(t *testing.T, kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys[kid] = k
}

// token signs claims for sub (exp in an hour) with the key kid, which need not be published.
func (iss *issuer) token(t *testing.T, kid, sub string) string {
	t.Helper()
	iss.mu.Lock()
	key := iss.keys[kid]
	iss.mu.Unlock()
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKS(t *testing.T) {
	iss := newIssuer(t, "k1")
	g := startGateway(t, "", "--manifests", writeManifest(t, jwksManifest), "--jwks-url", iss.srv.URL+"/.well-known/jwks.json")

	call := func(token string) response {
		return do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+token)
	}
	r := call(iss.token(t, "k1", "alice"))
	var info struct{ Claims map[string]any }
	r.JSON(t, &info)
	if r.Status != 200 || info.Claims["sub"] != "alice" {
		t.Fatalf("token of the published key: %d %s", r.Status, r.Body)
	}

	// The issuer rotates in a new key after the gateway started: its first token makes the
	// gateway fetch the set again.
	iss.addKey(t, "k2")
	if r := call(iss.token(t, "k2", "bob")); r.Status != 200 {
		t.Fatalf("token of the rotated-in key: %d %s", r.Status, r.Body)
	}

	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT","kid":"k1"}`)) + "." + b64([]byte(`{"sub":"alice","exp":9999999999}`)) + "."
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("guess"))
	refused := map[string]struct{ token, reason string }{
		"unknown kid": {iss.token(t, "never-published", "mallory"), "unknown key"},
		"alg none":    {algNone, "alg not allowed"},
		"HS256":       {hs, "alg not allowed"},
		"garbage":     {"a.b.c", "malformed"},
	}
	for name, c := range refused {
		r := call(c.token)
		if r.Status != 401 || !strings.Contains(string(r.Body), c.reason) {
			t.Errorf("%s: %d %s, want 401 %q", name, r.Status, r.Body, c.reason)
		}
	}

	// WebSocket auth goes through the same verifier.
	ws := dialWS(t, wsURL(g, "token="+iss.token(t, "k2", "bob")), nil)
	ws.mustOK(map[string]any{"op": "subscribe", "topic": "user.bob"})
	ws.refused(map[string]any{"op": "subscribe", "topic": "user.alice"}, "forbidden")
	ws = dialWS(t, wsURL(g, ""), nil)
	ws.mustOK(map[string]any{"op": "auth", "token": iss.token(t, "k1", "alice")})
	ws.mustOK(map[string]any{"op": "subscribe", "topic": "user.alice"})
	ws = dialWS(t, wsURL(g, "token="+iss.token(t, "unknown", "mallory")), nil)
	if code := ws.closed(5 * time.Second); code != 4001 {
		t.Fatalf("unknown kid on /ws: close %d (%v), want 4001", code, ws.err())
	}
}

func TestJWKSStartErrors(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more
	iss := newIssuer(t, "k1")
	tests := map[string]struct {
		args []string
		want string
	}{
		"jwks down":          {[]string{"--jwks-url", down.URL + "/jwks.json"}, "the first fetch failed"},
		"jwks not http":      {[]string{"--jwks-url", "file:///etc/jwks.json"}, "want an http or https URL"},
		"secret and jwks":    {[]string{"--jwks-url", iss.srv.URL, "--jwt-secret", "s"}, "set one of a jwt secret, a jwt public key and a jwks url"},
		"bad rate":           {[]string{"--rate-limit", "fast"}, "--rate-limit: rate \"fast\""},
		"bad proxy":          {[]string{"--trusted-proxies", "proxy.example"}, "--trusted-proxies"},
		"cors credentials *": {[]string{"--cors-origins", "*", "--cors-credentials"}, "credentials cannot be allowed for any origin"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g, err := launchGateway(t, "", tt.args...)
			if err == nil {
				t.Fatal("edgefn serve started")
			}
			if werr := g.wait(10 * time.Second); werr == nil {
				t.Fatalf("edgefn serve exited 0; want a failure")
			}
			if !strings.Contains(g.logs.String(), tt.want) {
				t.Fatalf("output %q does not say %q", g.logs.String(), tt.want)
			}
		})
	}
}
