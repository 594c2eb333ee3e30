package authtest

import (
	"maps"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// HS256 returns a token with claims, signed with secret using HS256. Unless claims sets "exp",
// the token expires an hour from now. claims is not modified.
func HS256(t testing.TB, secret string, claims map[string]any) string {
	t.Helper()
	c := jwt.MapClaims(maps.Clone(claims))
	if c == nil {
		c = jwt.MapClaims{}
	}
	if _, ok := c["exp"]; !ok {
		c["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatalf("authtest: sign HS256: %v", err)
	}
	return s
}

// ExpiredHS256 is HS256 with "exp" set to an hour ago, overriding any "exp" in claims.
func ExpiredHS256(t testing.TB, secret string, claims map[string]any) string {
	t.Helper()
	c := maps.Clone(claims)
	if c == nil {
		c = map[string]any{}
	}
	c["exp"] = time.Now().Add(-time.Hour).Unix()
	return HS256(t, secret, c)
}
