package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "test-secret-of-a-decent-length!!"

var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey  = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// sign returns a token with claims, signed by method with key.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// claims returns valid claims (sub, exp in an hour) with the given changes; a nil value deletes.
func claims(changes ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	for i := 0; i < len(changes); i += 2 {
		k := changes[i].(string)
		if changes[i+1] == nil {
			delete(c, k)
		} else {
			c[k] = changes[i+1]
		}
	}
	return c
}

// writePEM writes one PEM block to a file in dir and returns its path.
func writePEM(t testing.TB, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pkixFile(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	return writePEM(t, "PUBLIC KEY", must(x509.MarshalPKIXPublicKey(pub)))
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestVerify(t *testing.T) {
	past, future := time.Now().Add(-time.Hour).Unix(), time.Now().Add(time.Hour).Unix()
	rsaPub := &rsaKey().PublicKey
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(rsaPub))})
	otherRSA := must(rsa.GenerateKey(rand.Reader, 2048))
	ec384 := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))

	hs := Config{Secret: secret}
	rs := Config{PublicKeyFile: pkixFile(t, rsaPub)}
	es := Config{PublicKeyFile: pkixFile(t, &ecKey().PublicKey)}
	withIss := Config{Secret: secret, Issuer: "https://issuer.example", Audience: "edgefn"}

	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims())

	tests := []struct {
		name   string
		cfg    Config
		token  string
		reason string // "" for a valid token
		jwtErr error  // also wrapped, when set
	}{
		{"HS256 valid", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims()), "", nil},
		{"HS256 expired", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("exp", past)), "expired", jwt.ErrTokenExpired},
		{"HS256 expired within leeway", Config{Secret: secret, Leeway: time.Minute},
			sign(t, jwt.SigningMethodHS256, []byte(secret), claims("exp", time.Now().Add(-10*time.Second).Unix())), "", nil},
		{"HS256 expired beyond leeway", Config{Secret: secret, Leeway: time.Minute},
			sign(t, jwt.SigningMethodHS256, []byte(secret), claims("exp", past)), "expired", jwt.ErrTokenExpired},
		{"HS256 not yet valid", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("nbf", future)), "not yet valid", jwt.ErrTokenNotValidYet},
		{"HS256 issued in the past", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("iat", past)), "", nil},
		{"HS256 issued in the future", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("iat", future)), "issued in the future", jwt.ErrTokenUsedBeforeIssued},
		{"HS256 issued in the future within leeway", Config{Secret: secret, Leeway: time.Minute},
			sign(t, jwt.SigningMethodHS256, []byte(secret), claims("iat", time.Now().Add(10*time.Second).Unix())), "", nil},
		{"HS256 issued in the future beyond leeway", Config{Secret: secret, Leeway: time.Minute},
			sign(t, jwt.SigningMethodHS256, []byte(secret), claims("iat", future)), "issued in the future", jwt.ErrTokenUsedBeforeIssued},
		{"HS256 iat not a number", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("iat", "now")), "invalid claims", nil},
		{"crit header", hs, withHeader(t, "crit", []string{"exp"}), "unsupported crit header", nil},
		{"crit header, empty", hs, withHeader(t, "crit", []string{}), "unsupported crit header", nil},
		{"crit header, null", hs, withHeader(t, "crit", nil), "unsupported crit header", nil},
		{"HS256 wrong secret", hs, sign(t, jwt.SigningMethodHS256, []byte("other"), claims()), "bad signature", jwt.ErrTokenSignatureInvalid},
		{"HS256 no exp", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("exp", nil)), "missing exp", jwt.ErrTokenRequiredClaimMissing},
		{"HS256 exp not a number", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("exp", "tomorrow")), "invalid claims", nil},
		{"HS384 with a secret", hs, sign(t, jwt.SigningMethodHS384, []byte(secret), claims()), "alg not allowed", nil},
		{"alg none with a secret", hs, none, "alg not allowed", nil},
		{"alg none with a key", rs, none, "alg not allowed", nil},
		{"unknown alg", hs, fakeAlg(t, "XX256"), "alg not allowed", nil},
		{"missing alg", hs, fakeAlg(t, ""), "alg not allowed", nil},

		{"issuer and audience", withIss, sign(t, jwt.SigningMethodHS256, []byte(secret),
			claims("iss", "https://issuer.example", "aud", []string{"other", "edgefn"})), "", nil},
		{"wrong issuer", withIss, sign(t, jwt.SigningMethodHS256, []byte(secret),
			claims("iss", "https://evil.example", "aud", "edgefn")), "wrong issuer", jwt.ErrTokenInvalidIssuer},
		{"missing issuer", withIss, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("aud", "edgefn")), "wrong issuer", nil},
		{"wrong audience", withIss, sign(t, jwt.SigningMethodHS256, []byte(secret),
			claims("iss", "https://issuer.example", "aud", "other")), "wrong audience", jwt.ErrTokenInvalidAudience},
		{"missing audience", withIss, sign(t, jwt.SigningMethodHS256, []byte(secret),
			claims("iss", "https://issuer.example")), "wrong audience", nil},
		{"missing audience only", Config{Secret: secret, Audience: "edgefn"},
			sign(t, jwt.SigningMethodHS256, []byte(secret), claims()), "wrong audience", nil},
		{"issuer unchecked when unset", hs, sign(t, jwt.SigningMethodHS256, []byte(secret), claims("iss", "anyone", "aud", "any")), "", nil},

		{"RS256 valid", rs, sign(t, jwt.SigningMethodRS256, rsaKey(), claims()), "", nil},
		{"RS256 other key", rs, sign(t, jwt.SigningMethodRS256, otherRSA, claims()), "bad signature", jwt.ErrTokenSignatureInvalid},
		{"RS256 expired", rs, sign(t, jwt.SigningMethodRS256, rsaKey(), claims("exp", past)), "expired", jwt.ErrTokenExpired},
		{"PS256 with an RSA key", rs, sign(t, jwt.SigningMethodPS256, rsaKey(), claims()), "alg not allowed", nil},
		{"RS512 with an RSA key", rs, sign(t, jwt.SigningMethodRS512, rsaKey(), claims()), "alg not allowed", nil},
		// The classic confusion: HS256 keyed with the public key's PEM, which anyone has.
		{"HS256 keyed with the RSA public key", rs, sign(t, jwt.SigningMethodHS256, rsaPEM, claims()), "alg not allowed", nil},
		{"ES256 with an RSA key", rs, sign(t, jwt.SigningMethodES256, ecKey(), claims()), "alg not allowed", nil},

		{"ES256 valid", es, sign(t, jwt.SigningMethodES256, ecKey(), claims()), "", nil},
		{"ES256 no exp", es, sign(t, jwt.SigningMethodES256, ecKey(), claims("exp", nil)), "missing exp", nil},
		{"ES384 with a P-256 key", es, sign(t, jwt.SigningMethodES384, ec384, claims()), "alg not allowed", nil},
		{"RS256 with an EC key", es, sign(t, jwt.SigningMethodRS256, rsaKey(), claims()), "alg not allowed", nil},
		{"ES384 valid", Config{PublicKeyFile: pkixFile(t, &ec384.PublicKey)}, sign(t, jwt.SigningMethodES384, ec384, claims()), "", nil},

		{"malformed: one part", hs, "abc", "malformed", jwt.ErrTokenMalformed},
		{"malformed: two parts", hs, "a.b", "malformed", jwt.ErrTokenMalformed},
		{"malformed: empty parts", hs, "..", "malformed", jwt.ErrTokenMalformed},
		{"malformed: four parts", hs, "a.b.c.d", "malformed", jwt.ErrTokenMalformed},
		{"malformed: not base64", hs, "!!!.@@@.###", "malformed", jwt.ErrTokenMalformed},
		{"malformed: header not JSON", hs, "bm90IGpzb24.e30.c2ln", "malformed", jwt.ErrTokenMalformed},
		{"malformed: bearer prefix kept", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(secret), claims()), "malformed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newVerifier(t, tt.cfg).Verify(tt.token)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got["sub"] != "alice" {
					t.Errorf("claims = %v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify succeeded with claims %v, want %q", got, tt.reason)
			}
			if want := "invalid token: " + tt.reason; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v does not wrap ErrInvalidToken", err)
			}
			if tt.jwtErr != nil && !errors.Is(err, tt.jwtErr) {
				t.Errorf("error %v does not wrap %v", err, tt.jwtErr)
			}
			if got != nil {
				t.Errorf("claims returned with an error: %v", got)
			}
		})
	}
}

// withHeader returns an HS256-signed token, valid but for its header's extra parameter k.
func withHeader(t testing.TB, k string, v any) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
	tok.Header[k] = v
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeAlg returns an HS256-signed token whose header claims alg (omitted when empty).
func fakeAlg(t testing.TB, alg string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
	if alg == "" {
		delete(tok.Header, "alg")
	} else {
		tok.Header["alg"] = alg
	}
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyClaimsArePlain(t *testing.T) {
	v := newVerifier(t, Config{Secret: secret})
	got, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), claims("roles", []string{"admin"}, "n", 3)))
	if err != nil {
		t.Fatal(err)
	}
	if _, isMapClaims := any(got).(jwt.MapClaims); isMapClaims {
		t.Error("claims are jwt.MapClaims, want map[string]any")
	}
	if got["n"] != float64(3) || got["roles"].([]any)[0] != "admin" {
		t.Errorf("claims = %#v", got)
	}
}

func TestDisabledAndNoToken(t *testing.T) {
	off := newVerifier(t, Config{Issuer: "ignored"})
	if off.Enabled() {
		t.Error("verifier with no key is enabled")
	}
	if _, err := off.Verify("a.b.c"); !errors.Is(err, ErrNotConfigured) || err.Error() != "jwt not configured" {
		t.Errorf("disabled Verify: %v", err)
	}
	var nilV *Verifier
	if nilV.Enabled() {
		t.Error("nil verifier is enabled")
	}
	on := newVerifier(t, Config{Secret: secret})
	if !on.Enabled() {
		t.Error("verifier with a secret is disabled")
	}
	if _, err := on.Verify(""); !errors.Is(err, ErrNoToken) || errors.Is(err, ErrInvalidToken) {
		t.Errorf("empty token: %v", err)
	}
}

func TestKeyFormats(t *testing.T) {
	pub := &rsaKey().PublicKey
	token := sign(t, jwt.SigningMethodRS256, rsaKey(), claims())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	cert := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, rsaKey()))
	for name, file := range map[string]string{
		"PKIX":        pkixFile(t, pub),
		"PKCS1":       writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(pub)),
		"certificate": writePEM(t, "CERTIFICATE", cert),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := newVerifier(t, Config{PublicKeyFile: file}).Verify(token); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224 := must(ecdsa.GenerateKey(elliptic.P224(), rand.Reader))
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem file"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"secret and key", Config{Secret: "s", PublicKeyFile: "k.pem"}, "not several"},
		{"secret and jwks", Config{Secret: "s", JWKSURL: "http://127.0.0.1:1/jwks"}, "not several"},
		{"key and jwks", Config{PublicKeyFile: "k.pem", JWKSURL: "http://127.0.0.1:1/jwks"}, "not several"},
		{"jwks not a URL", Config{JWKSURL: "file:///etc/keys.json"}, "want an http or https URL"},
		{"negative leeway", Config{Secret: "s", Leeway: -time.Second}, "leeway -1s: must be >= 0"},
		{"missing file", Config{PublicKeyFile: filepath.Join(t.TempDir(), "nope.pem")}, "read:"},
		{"not PEM", Config{PublicKeyFile: garbage}, "no PEM block found"},
		{"private key", Config{PublicKeyFile: writePEM(t, "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ecKey())))}, `PEM block "PRIVATE KEY"`},
		{"corrupt key", Config{PublicKeyFile: writePEM(t, "PUBLIC KEY", []byte("junk"))}, "parse PUBLIC KEY:"},
		{"ed25519", Config{PublicKeyFile: pkixFile(t, edPub)}, "unsupported key type ed25519.PublicKey"},
		{"P-224", Config{PublicKeyFile: pkixFile(t, &p224.PublicKey)}, "unsupported EC curve P-224"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if v != nil {
				t.Error("New returned a verifier with its error")
			}
			if !strings.HasPrefix(err.Error(), "auth: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Bearer   abc  ", "abc", true},
		{"  Bearer\tabc", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearerabc", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"abc.def.ghi", "", false},
		{"Bearer a b", "", false},
		{"Token abc", "", false},
	}
	for _, tt := range tests {
		token, ok := BearerToken(tt.header)
		if token != tt.token || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, token, ok, tt.token, tt.ok)
		}
	}
}

func FuzzVerify(f *testing.F) {
	v := newVerifier(f, Config{Secret: secret, Issuer: "iss", Audience: "aud"})
	ve := newVerifier(f, Config{PublicKeyFile: pkixFile(f, &ecKey().PublicKey)})
	f.Add(sign(f, jwt.SigningMethodHS256, []byte(secret), claims("iss", "iss", "aud", "aud")))
	f.Add(sign(f, jwt.SigningMethodHS256, []byte(secret), claims("exp", "x", "aud", []any{1, nil})))
	f.Add(sign(f, jwt.SigningMethodES256, ecKey(), claims()))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims()))
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		for _, v := range []*Verifier{v, ve} {
			c, err := v.Verify(token)
			switch {
			case err == nil && c == nil:
				t.Fatal("no error and no claims")
			case err != nil && c != nil:
				t.Fatalf("claims with error %v", err)
			case err != nil && !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrNoToken):
				t.Fatalf("error %v wraps neither ErrInvalidToken nor ErrNoToken", err)
			case err != nil && strings.ContainsAny(err.Error(), "\n\"{"):
				t.Fatalf("error message not a short reason: %q", err)
			}
		}
		BearerToken(token)
	})
}

func TestVerifyKeyfuncError(t *testing.T) {
	// A key source that knows no key for the token (as JWKS will for an unknown kid).
	v := newVerifier(t, Config{Secret: secret})
	v.keyfunc = func(*jwt.Token) (any, error) { return nil, errors.New("kid not found") }
	_, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), claims()))
	if err == nil || err.Error() != "invalid token: unknown key" || !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify: %v", err)
	}
}
