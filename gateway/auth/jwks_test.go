package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves a key set that a test can change, and counts the fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	fetches atomic.Int64
	down    atomic.Bool
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

// startJWKS builds and starts a JWKS verifier, closed when the test ends.
func startJWKS(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v := newVerifier(t, cfg)
	if err := v.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	size := (k.Curve.Params().BitSize + 7) / 8
	return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "crv": k.Curve.Params().Name,
		"x": b64(k.X.FillBytes(make([]byte, size))), "y": b64(k.Y.FillBytes(make([]byte, size)))}
}

// signKID signs claims with a "kid" header (none when kid is empty).
func signKID(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantReason(t *testing.T, v *Verifier, token, reason string) {
	t.Helper()
	_, err := v.Verify(token)
	if reason == "" {
		if err != nil {
			t.Fatalf("Verify: %v, want success", err)
		}
		return
	}
	if err == nil || !errors.Is(err, ErrInvalidToken) || err.Error() != "invalid token: "+reason {
		t.Fatalf("Verify: %v, want invalid token: %s", err, reason)
	}
}

func TestJWKSVerify(t *testing.T) {
	srv := newJWKSServer(t, rsaJWK("r1", &rsaKey().PublicKey), ecJWK("e1", &ecKey().PublicKey),
		map[string]string{"kty": "oct", "kid": "h1", "k": b64([]byte(secret))})
	v := startJWKS(t, Config{JWKSURL: srv.URL, Issuer: "iss"})
	other := must(rsa.GenerateKey(rand.Reader, 2048))
	ok := claims("iss", "iss")
	tests := []struct {
		name, token, reason string
	}{
		{"RS256 with kid", signKID(t, jwt.SigningMethodRS256, rsaKey(), "r1", ok), ""},
		{"ES256 with kid", signKID(t, jwt.SigningMethodES256, ecKey(), "e1", ok), ""},
		{"no kid: every key is tried", signKID(t, jwt.SigningMethodES256, ecKey(), "", ok), ""},
		{"wrong issuer", signKID(t, jwt.SigningMethodRS256, rsaKey(), "r1", claims("iss", "x")), "wrong issuer"},
		{"expired", signKID(t, jwt.SigningMethodRS256, rsaKey(), "r1", claims("iss", "iss", "exp", time.Now().Add(-time.Hour).Unix())), "expired"},
		{"signed by another key", signKID(t, jwt.SigningMethodRS256, other, "r1", ok), "bad signature"},
		{"kid of a key of another type", signKID(t, jwt.SigningMethodES256, ecKey(), "r1", ok), "unknown key"},
		// The set holds a symmetric key, but HS* is not on a JWKS verifier's allow-list.
		{"HS256 with the set's oct key", signKID(t, jwt.SigningMethodHS256, []byte(secret), "h1", ok), "alg not allowed"},
		{"HS256 with the public key as secret", signKID(t, jwt.SigningMethodHS256, rsaKey().PublicKey.N.Bytes(), "r1", ok), "alg not allowed"},
		{"alg none", signKID(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "r1", ok), "alg not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantReason(t, v, tt.token, tt.reason) })
	}
}

func TestJWKSRotation(t *testing.T) {
	srv := newJWKSServer(t, rsaJWK("old", &rsaKey().PublicKey))
	v := startJWKS(t, Config{JWKSURL: srv.URL, JWKSUnknownKIDInterval: time.Hour})
	wantReason(t, v, signKID(t, jwt.SigningMethodRS256, rsaKey(), "old", claims()), "")
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after start, want 1", n)
	}

	// The issuer rotates: a token with the new kid makes the verifier fetch the set again.
	newKey := must(rsa.GenerateKey(rand.Reader, 2048))
	srv.setKeys(rsaJWK("new", &newKey.PublicKey))
	wantReason(t, v, signKID(t, jwt.SigningMethodRS256, newKey, "new", claims()), "")
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the new kid, want 2", n)
	}
	// The old key left the set with the refresh.
	wantReason(t, v, signKID(t, jwt.SigningMethodRS256, rsaKey(), "old", claims()), "unknown key")

	// Unknown kids are refused, and refresh no more than the limiter allows (once an hour
	// here, already spent): a flood of made-up kids does not become a flood of fetches.
	for i := range 20 {
		wantReason(t, v, signKID(t, jwt.SigningMethodRS256, newKey, "made-up-"+string(rune('a'+i)), claims()), "unknown key")
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after unknown kids, want still 2", n)
	}
}

func TestJWKSPeriodicRefresh(t *testing.T) {
	srv := newJWKSServer(t, ecJWK("a", &ecKey().PublicKey))
	v := startJWKS(t, Config{JWKSURL: srv.URL, JWKSRefresh: 50 * time.Millisecond, JWKSUnknownKIDInterval: time.Hour})
	wantReason(t, v, signKID(t, jwt.SigningMethodES256, ecKey(), "a", claims()), "")
	// Spend the unknown-kid refresh, so only the periodic one can bring the new key.
	wantReason(t, v, signKID(t, jwt.SigningMethodES256, ecKey(), "nope", claims()), "unknown key")
	rotated := must(rsa.GenerateKey(rand.Reader, 2048))
	srv.setKeys(ecJWK("a", &ecKey().PublicKey), rsaJWK("b", &rotated.PublicKey))
	token := signKID(t, jwt.SigningMethodRS256, rotated, "b", claims())
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := v.Verify(token); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the periodic refresh did not bring kid b within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A failed refresh keeps the keys fetched last.
	srv.down.Store(true)
	seen := srv.fetches.Load()
	for srv.fetches.Load() < seen+2 {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatal("no refresh attempts while the server is down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantReason(t, v, token, "")

}

func TestJWKSDownAtStart(t *testing.T) {
	srv := newJWKSServer(t)
	srv.down.Store(true)
	// New does no I/O; Start makes the first fetch, and fails with it.
	v := newVerifier(t, Config{JWKSURL: srv.URL + "/keys?secret=x"})
	if n := srv.fetches.Load(); n != 0 {
		t.Fatalf("New fetched the key set %d times", n)
	}
	if _, err := v.Verify("a.b.c"); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("Verify before Start: %v, want ErrNotConfigured", err)
	}
	err := v.Start(context.Background())
	if err == nil {
		t.Fatal("Start succeeded with the JWKS server down")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "auth: jwks "+srv.URL+"/keys: the first fetch failed") || !strings.Contains(msg, "503") {
		t.Errorf("error %q: want the URL (without its query) and the status", msg)
	}

	srv.Close() // nothing listens any more: the HTTP client's error quotes the URL
	v = newVerifier(t, Config{JWKSURL: srv.URL + "/keys?secret=hunter2"})
	if err := v.Start(context.Background()); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Start with nothing listening: %v; want an error without the URL's query", err)
	}

	v = newVerifier(t, Config{JWKSURL: srv.URL})
	if err := v.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "the first fetch failed") {
		t.Errorf("Start with nothing listening: %v", err)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }))
	defer bad.Close()
	v = newVerifier(t, Config{JWKSURL: bad.URL})
	if err := v.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "the first fetch failed") {
		t.Errorf("Start with a non-JSON answer: %v", err)
	}
}
