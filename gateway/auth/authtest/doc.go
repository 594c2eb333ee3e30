// Package authtest makes signed JWTs for the tests of code that sits behind the gateway's
// [github.com/edgefn/edgefn/gateway/auth.Verifier], configured with the same secret.
package authtest
