package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// JWKS defaults; see [Config].
const (
	defaultJWKSRefresh        = 15 * time.Minute
	defaultJWKSUnknownKIDWait = 30 * time.Second
	defaultJWKSTimeout        = 10 * time.Second
)

// jwksMethods is the allow-list of a JWKS verifier: the asymmetric algorithms only. HS* would
// let a symmetric ("oct") key of the set, or a public key misused as a secret, sign tokens;
// "none" is never allowed.
var jwksMethods = []string{
	jwt.SigningMethodRS256.Alg(), jwt.SigningMethodRS384.Alg(), jwt.SigningMethodRS512.Alg(),
	jwt.SigningMethodPS256.Alg(), jwt.SigningMethodPS384.Alg(), jwt.SigningMethodPS512.Alg(),
	jwt.SigningMethodES256.Alg(), jwt.SigningMethodES384.Alg(), jwt.SigningMethodES512.Alg(),
	jwt.SigningMethodEdDSA.Alg(),
}

// checkJWKS validates the JWKS settings of cfg, which New calls; it does no I/O.
func checkJWKS(cfg Config) error {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("auth: jwks url %q: want an http or https URL", cfg.JWKSURL)
	}
	if cfg.JWKSRefresh < 0 {
		return fmt.Errorf("auth: jwks refresh %v: must be > 0", cfg.JWKSRefresh)
	}
	if cfg.JWKSUnknownKIDInterval < 0 {
		return fmt.Errorf("auth: jwks unknown kid interval %v: must be > 0", cfg.JWKSUnknownKIDInterval)
	}
	return nil
}

// newJWKS fetches the key set at cfg.JWKSURL (checked by checkJWKS) and starts refreshing it
// in the background until ctx ends. The first fetch must succeed: a gateway that cannot know
// any key would answer every jwt route with 401, so it refuses to start instead.
func newJWKS(ctx context.Context, cfg Config) (jwt.Keyfunc, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil {
		return nil, err
	}
	refresh := cfg.JWKSRefresh
	if refresh == 0 {
		refresh = defaultJWKSRefresh
	}
	unknownKID := cfg.JWKSUnknownKIDInterval
	if unknownKID == 0 {
		unknownKID = defaultJWKSUnknownKIDWait
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultJWKSTimeout}
	}
	// The URL is logged without its query and user info, which may carry credentials.
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	failFirst := false // the first fetch's error is returned, not only logged
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               defaultJWKSTimeout,
		NoErrorReturnFirstHTTPReq: &failFirst,
		RefreshInterval:           refresh,
		// An unknown kid refreshes the set at most once per interval. rate.Limiter.Wait
		// fails at once when the next refresh is further away than RateLimitWaitMax, and
		// reserves it otherwise: so at most one request per interval waits (up to 10s, for
		// the refresh it then makes), and every other one gets its 401 straight away. The
		// same deadline bounds the refresh itself.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKID), 1),
		RateLimitWaitMax:  defaultJWKSTimeout,
		RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				logger.Warn("jwks refresh failed", "url", shown, "error", redact(err, cfg.JWKSURL, shown))
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks %s: the first fetch failed: %w", shown, redact(err, cfg.JWKSURL, shown))
	}
	return k.Keyfunc, nil
}

// redact replaces the full URL in err's message (the HTTP client quotes it, query included)
// with the shown one.
func redact(err error, full, shown string) error {
	if full == shown || !strings.Contains(err.Error(), full) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), full, shown))
}
