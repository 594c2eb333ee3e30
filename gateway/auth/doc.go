// Package auth verifies the JSON Web Tokens that callers present to routes declared with
// "auth: jwt" and to the WebSocket endpoint.
//
// A [Verifier] is built once from the gateway's flags ([Config]: an HS256 secret, a PEM public
// key or the URL of a JSON Web Key Set, plus the expected issuer and audience). A JWKS is fetched
// by [Verifier.Start] (a failed first fetch is an error: the gateway does not start without keys),
// refreshed periodically, and a token with an unknown "kid" triggers a rate-limited refresh;
// when the key is still unknown the token is refused ("unknown key"). Tokens enter through [Verifier.Verify], usually
// after [BearerToken] has taken them out of an Authorization header; the verified claims leave as
// a plain map, which the gateway hands to the function as its event's claims. Every failure wraps
// [ErrNoToken] or [ErrInvalidToken], and its message is short and safe to show to the client.
//
// The accepted signing algorithms follow the configured key, never the token: HS256 for a
// secret, RS256 for an RSA key, ES256 (ES384, ES512) for an EC P-256 (P-384, P-521) key, and
// the asymmetric algorithms only (RS*, PS*, ES*, EdDSA) for a JWKS, each key verifying only
// tokens of its own type. This
// refuses "alg": "none" and the classic confusion attack where a token is signed with HS256
// using the public key as the secret. A token issued in the future ("iat" beyond the leeway)
// is refused, and so is any token with a "crit" header: the verifier understands no extension,
// and RFC 7515 requires refusing a token that needs one.
package auth
