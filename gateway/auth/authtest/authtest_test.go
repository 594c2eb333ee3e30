package authtest_test

import (
	"errors"
	"testing"

	"github.com/edgefn/edgefn/gateway/auth"
	"github.com/edgefn/edgefn/gateway/auth/authtest"
)

func TestTokensVerify(t *testing.T) {
	v, err := auth.New(auth.Config{Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"sub": "alice"}
	claims, err := v.Verify(authtest.HS256(t, "s3cret", in))
	if err != nil || claims["sub"] != "alice" {
		t.Fatalf("HS256 token: claims %v, err %v", claims, err)
	}
	if _, ok := in["exp"]; ok {
		t.Error("HS256 modified its claims")
	}
	if _, err := v.Verify(authtest.ExpiredHS256(t, "s3cret", in)); !errors.Is(err, auth.ErrInvalidToken) || err.Error() != "invalid token: expired" {
		t.Errorf("expired token: err %v", err)
	}
	if _, err := v.Verify(authtest.HS256(t, "s3cret", nil)); err != nil {
		t.Errorf("token with nil claims: %v", err)
	}
}
