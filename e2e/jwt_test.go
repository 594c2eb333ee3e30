package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgefn/edgefn/gateway/auth/authtest"
)

const jwtManifest = `
name: t
handler: {{testfn}}
triggers:
  - http: {method: GET, path: "/secure/{op}", auth: jwt}
  - http: {method: GET, path: "/open/{op}"}
`

func TestJWTRoutes(t *testing.T) {
	const secret = "e2e-secret-of-32-bytes-or-so!!!!"
	g := startGateway(t, "", "--manifests", writeManifest(t, jwtManifest), "--jwt-secret", secret, "--jwt-issuer", "edgefn-tests")

	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "iss": "edgefn-tests"}).SignedString([]byte(secret))
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		b64([]byte(`{"sub":"u1","iss":"edgefn-tests","exp":`+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+`}`)) + "."
	refused := map[string]string{
		"no token":        "",
		"not bearer":      "Basic dTpw",
		"expired":         "Bearer " + authtest.ExpiredHS256(t, secret, map[string]any{"sub": "u1", "iss": "edgefn-tests"}),
		"wrong signature": "Bearer " + authtest.HS256(t, "another-secret", map[string]any{"sub": "u1", "iss": "edgefn-tests"}),
		"alg none":        "Bearer " + algNone,
		"no exp":          "Bearer " + noExp,
		"wrong issuer":    "Bearer " + authtest.HS256(t, secret, map[string]any{"sub": "u1", "iss": "someone-else"}),
		"garbage":         "Bearer not.a.jwt",
	}
	for name, header := range refused {
		var h []string
		if header != "" {
			h = []string{"Authorization", header}
		}
		r := do(t, "GET", g.URL+"/secure/info", nil, h...)
		if r.Status != 401 || !strings.Contains(string(r.Body), `"unauthorized"`) || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s, want 401 with WWW-Authenticate", name, r.Status, r.Body)
		}
	}
	// Signed with the right secret, but issued an hour from now, or needing an extension the
	// gateway does not know (crit): refused, with the reason.
	crit := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "iss": "edgefn-tests", "exp": time.Now().Add(time.Hour).Unix()})
	crit.Header["crit"] = []string{"exp"}
	critToken, _ := crit.SignedString([]byte(secret))
	for token, reason := range map[string]string{
		authtest.HS256(t, secret, map[string]any{"sub": "u1", "iss": "edgefn-tests", "iat": time.Now().Add(time.Hour).Unix()}): "invalid token: issued in the future",
		critToken: "invalid token: unsupported crit header",
	} {
		r := do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+token)
		var body struct {
			Error struct{ Code, Message string }
		}
		r.JSON(t, &body)
		if r.Status != 401 || body.Error.Code != "unauthorized" || body.Error.Message != reason {
			t.Errorf("%s: %d %s, want 401 saying %q", reason, r.Status, r.Body, reason)
		}
	}
	// A token issued a minute ago is fine.
	if r := do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+authtest.HS256(t, secret,
		map[string]any{"sub": "u1", "iss": "edgefn-tests", "iat": time.Now().Add(-time.Minute).Unix()})); r.Status != 200 {
		t.Errorf("token issued a minute ago: %d %s", r.Status, r.Body)
	}

	token := authtest.HS256(t, secret, map[string]any{"sub": "user-42", "iss": "edgefn-tests", "role": "admin"})
	r := do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+token)
	var info struct{ Claims map[string]any }
	r.JSON(t, &info)
	if r.Status != 200 || info.Claims["sub"] != "user-42" || info.Claims["role"] != "admin" {
		t.Fatalf("valid token: %d %s", r.Status, r.Body)
	}
	// A route without auth passes no claims, even when a token is sent.
	r = do(t, "GET", g.URL+"/open/info", nil, "Authorization", "Bearer "+token)
	info.Claims = nil
	r.JSON(t, &info)
	if r.Status != 200 || info.Claims != nil {
		t.Fatalf("open route: %d %s", r.Status, r.Body)
	}
}

func TestJWTWithPublicKey(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	keyFile := filepath.Join(t.TempDir(), "pub.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	g := startGateway(t, "", "--manifests", writeManifest(t, jwtManifest), "--jwt-public-key", keyFile)

	good, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "ec-user", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(key)
	if r := do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+good); r.Status != 200 || !strings.Contains(string(r.Body), "ec-user") {
		t.Fatalf("ES256 token: %d %s", r.Status, r.Body)
	}
	// The public key's bytes used as an HMAC secret (algorithm confusion) must not pass.
	pemBytes, _ := os.ReadFile(keyFile)
	confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(pemBytes)
	if r := do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+confused); r.Status != 401 {
		t.Fatalf("HS256 signed with the public key: %d %s, want 401", r.Status, r.Body)
	}
}

func TestJWTRouteWithoutConfiguredKeyIsRefused(t *testing.T) {
	g := startGateway(t, "", "--manifests", writeManifest(t, jwtManifest))
	r := do(t, "GET", g.URL+"/secure/info", nil, "Authorization", "Bearer "+authtest.HS256(t, "x", map[string]any{"sub": "u"}))
	if r.Status != 401 || !strings.Contains(string(r.Body), "jwt not configured") {
		t.Fatalf("jwt route with no key configured: %d %s", r.Status, r.Body)
	}
}
