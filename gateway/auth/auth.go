package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Config selects how tokens are verified. The zero value disables JWT: see [Verifier.Enabled].
type Config struct {
	// Secret is the HS256 shared secret. Set at most one of Secret, PublicKeyFile and JWKSURL.
	Secret string
	// PublicKeyFile is a PEM file holding the public key that verifies signatures: a
	// "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY" (PKCS #1) block, or a "CERTIFICATE" whose key is
	// used. An RSA key accepts RS256 only; an EC key accepts ES256, ES384 or ES512 according to
	// its curve (P-256, P-384, P-521).
	PublicKeyFile string
	// JWKSURL is the http(s) URL of a JSON Web Key Set. Its keys are fetched by Start (which
	// fails when that first fetch does), refreshed every JWKSRefresh, and a token whose "kid"
	// is unknown triggers a refresh at most once per JWKSUnknownKIDInterval before it is
	// refused. The allow-list is the asymmetric algorithms (RS*, PS*, ES*, EdDSA), each key
	// verifying only tokens of its own type (and of its "alg", when the key names one).
	JWKSURL string
	// JWKSRefresh is how often the key set is fetched again; default 15 minutes.
	JWKSRefresh time.Duration
	// JWKSUnknownKIDInterval is the least time between two refreshes caused by unknown
	// "kid"s; default 30 seconds.
	JWKSUnknownKIDInterval time.Duration
	// HTTPClient fetches the key set; default a client with a 10s timeout.
	HTTPClient *http.Client
	// Logger receives failed background refreshes; default slog.Default().
	Logger *slog.Logger
	// Issuer, when set, is the required "iss" claim. Empty means the claim is not checked.
	Issuer string
	// Audience, when set, must be one of the token's "aud" values. Empty means the claim is not
	// checked.
	Audience string
	// Leeway is the clock skew allowed when checking "exp", "nbf" and "iat". Zero means none.
	Leeway time.Duration
}

// ErrNoToken is returned by [Verifier.Verify] for an empty token: the caller did not send one.
var ErrNoToken = errors.New("no token")

// ErrInvalidToken is wrapped by every verification failure. The error's message, e.g.
// "invalid token: expired", is safe to show to the client.
var ErrInvalidToken = errors.New("invalid token")

// ErrNotConfigured is returned by [Verifier.Verify] when the verifier has no key.
var ErrNotConfigured = errors.New("jwt not configured")

// Verifier checks tokens against one key source. It is safe for concurrent use.
type Verifier struct {
	// keyfunc returns the key that verifies a token: the static key, or the JWKS key that
	// the token's "kid" selects.
	keyfunc jwt.Keyfunc
	// methods is the algorithm allow-list; it follows the key type.
	methods []string
	parser  *jwt.Parser
	cfg     Config
	// stop ends a JWKS verifier's background refreshes.
	stop context.CancelFunc
}

// New builds a verifier from cfg, reading and parsing the key file if one is given. It fails if
// more than one of Secret, PublicKeyFile and JWKSURL is set, if the key file cannot be read or
// holds no usable public key, if the JWKS settings are malformed, or if Leeway is negative. With
// none of the three, the verifier is disabled. A JWKS verifier fetches no key until
// [Verifier.Start].
func New(cfg Config) (*Verifier, error) {
	set := 0
	for _, s := range []string{cfg.Secret, cfg.PublicKeyFile, cfg.JWKSURL} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return nil, errors.New("auth: set one of a jwt secret, a jwt public key and a jwks url, not several")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: leeway %v: must be >= 0", cfg.Leeway)
	}
	v := &Verifier{cfg: cfg}
	switch {
	case cfg.Secret != "":
		secret := []byte(cfg.Secret)
		v.methods = []string{jwt.SigningMethodHS256.Alg()}
		v.keyfunc = func(*jwt.Token) (any, error) { return secret, nil }
	case cfg.PublicKeyFile != "":
		key, methods, err := readPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt public key %s: %w", cfg.PublicKeyFile, err)
		}
		v.methods = methods
		v.keyfunc = func(*jwt.Token) (any, error) { return key, nil }
	case cfg.JWKSURL != "":
		if err := checkJWKS(cfg); err != nil {
			return nil, err
		}
		v.methods = jwksMethods
	default:
		return v, nil
	}
	v.parser = newParser(cfg, v.methods)
	return v, nil
}

// newParser returns the parser shared by every Verify call: jwt.Parser is safe for concurrent
// use once built.
func newParser(cfg Config, methods []string) *jwt.Parser {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), // an "iat" after now (and Leeway) is refused
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return jwt.NewParser(opts...)
}

// Start fetches a JWKS verifier's key set and refreshes it in the background until ctx ends or
// [Verifier.Close]; it fails when the first fetch does (the error names the URL without its
// query). It does nothing for other verifiers. Call it once, before the first Verify: until
// then a JWKS verifier refuses every token.
func (v *Verifier) Start(ctx context.Context) error {
	if v == nil || v.cfg.JWKSURL == "" || v.keyfunc != nil {
		return nil
	}
	ctx, stop := context.WithCancel(ctx)
	keyfunc, err := newJWKS(ctx, v.cfg)
	if err != nil {
		stop()
		return err
	}
	v.keyfunc, v.stop = keyfunc, stop
	return nil
}

// Close stops a JWKS verifier's background refreshes (the key set library's goroutine ends
// with its context; it does not wait for it); it does nothing for other verifiers. Verify
// keeps working with the keys last fetched.
func (v *Verifier) Close() {
	if v != nil && v.stop != nil {
		v.stop()
	}
}

// Enabled reports whether the verifier has a key source. When it does not, routes that require
// a JWT must refuse every request (401, "jwt not configured").
func (v *Verifier) Enabled() bool { return v != nil && (v.keyfunc != nil || v.cfg.JWKSURL != "") }

// Verify checks token's signature, algorithm and claims ("exp" is required; "nbf" is checked
// when present; "iss" and "aud" when configured) and returns its claims. Numbers in the claims
// are float64, as encoding/json decodes them.
//
// It returns [ErrNotConfigured] when the verifier is disabled, [ErrNoToken] for an empty token,
// and otherwise an error wrapping [ErrInvalidToken] (and the jwt package's own error) whose
// message names the reason: malformed, alg not allowed, unknown key, bad signature, missing exp,
// expired, not yet valid, issued in the future ("iat" after now), wrong issuer, wrong audience,
// invalid claims or unsupported crit header (any "crit": the verifier knows no extension).
func (v *Verifier) Verify(token string) (map[string]any, error) {
	if !v.Enabled() || v.keyfunc == nil { // a JWKS verifier not started has no key yet
		return nil, ErrNotConfigured
	}
	if token == "" {
		return nil, ErrNoToken
	}
	claims := jwt.MapClaims{}
	parsed, err := v.parser.ParseWithClaims(token, claims, v.keyfunc)
	if err != nil {
		return nil, &tokenError{reason: v.reason(err, parsed, claims), err: err}
	}
	if _, ok := parsed.Header["crit"]; ok {
		// RFC 7515, 4.1.11: a token whose "crit" names an extension the verifier does not
		// understand must be refused. This verifier understands none.
		return nil, &tokenError{reason: "unsupported crit header", err: errCrit}
	}
	return map[string]any(claims), nil
}

// errCrit is the jwt-level error of a token with a "crit" header.
var errCrit = errors.New("crit header parameters are not supported")

// tokenError is a verification failure: its message is the client-safe reason, and it wraps
// both ErrInvalidToken and the jwt error for errors.Is.
type tokenError struct {
	reason string
	err    error
}

func (e *tokenError) Error() string   { return ErrInvalidToken.Error() + ": " + e.reason }
func (e *tokenError) Unwrap() []error { return []error{ErrInvalidToken, e.err} }

// reason names the first problem of err, a jwt parse error, in words safe to show a client.
// token is what the parser returned with err, possibly nil.
func (v *Verifier) reason(err error, token *jwt.Token, claims jwt.MapClaims) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Either the alg is missing or unknown to the jwt package (no Method), or the keyfunc
		// found no key for the token (a key source with several keys, such as JWKS).
		if token == nil || token.Method == nil {
			return "alg not allowed"
		}
		return "unknown key"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// WithValidMethods reports a refused alg as a bad signature; tell them apart.
		if token != nil && token.Method != nil && !slices.Contains(v.methods, token.Method.Alg()) {
			return "alg not allowed"
		}
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return v.missingClaim(claims)
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not yet valid"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	}
	return "invalid claims"
}

// missingClaim names the required claim that claims lack: exp, or else iss or aud, which are
// required when an issuer or audience is configured.
func (v *Verifier) missingClaim(claims jwt.MapClaims) string {
	if _, ok := claims["exp"]; !ok {
		return "missing exp"
	}
	if iss, _ := claims["iss"].(string); v.cfg.Issuer != "" && iss == "" {
		return "wrong issuer"
	}
	return "wrong audience"
}

// readPublicKey reads a PEM public key and returns it with the algorithms it may verify.
func readPublicKey(file string) (any, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, errors.New("no PEM block found")
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, nil, fmt.Errorf("PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	return keyMethods(key)
}

// keyMethods returns the algorithms a key may verify: the allow-list follows the key type.
func keyMethods(key any) (any, []string, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return k, []string{jwt.SigningMethodRS256.Alg()}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return k, []string{jwt.SigningMethodES256.Alg()}, nil
		case elliptic.P384():
			return k, []string{jwt.SigningMethodES384.Alg()}, nil
		case elliptic.P521():
			return k, []string{jwt.SigningMethodES512.Alg()}, nil
		}
		return nil, nil, fmt.Errorf("unsupported EC curve %s", k.Curve.Params().Name)
	}
	return nil, nil, fmt.Errorf("unsupported key type %T: want RSA or EC", key)
}

// BearerToken extracts the token from an Authorization header value of the form
// "Bearer <token>", the scheme matched case-insensitively. It reports false when the header is
// empty, uses another scheme, or carries no token.
func BearerToken(authorizationHeader string) (string, bool) {
	const scheme = "bearer"
	h := strings.TrimSpace(authorizationHeader)
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	rest := h[len(scheme):]
	if rest[0] != ' ' && rest[0] != '\t' {
		return "", false // e.g. "Bearerx"
	}
	token := strings.TrimSpace(rest)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}
