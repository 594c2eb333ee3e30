// Package auth verifies the JSON Web Tokens that callers present to routes declared with
// "auth: jwt" and to the WebSocket endpoint.
//
// A [Verifier] is built once from the gateway's flags ([Config]: an HS256 secret or a PEM public
// key, plus the expected issuer and audience). Tokens enter through [Verifier.Verify], usually
// after [BearerToken] has taken them out of an Authorization header; the verified claims leave as
// a plain map, which the gateway hands to the function as its event's claims. Every failure wraps
// [ErrNoToken] or [ErrInvalidToken], and its message is short and safe to show to the client.
//
// The accepted signing algorithms follow the configured key, never the token: HS256 for a
// secret, RS256 for an RSA key, ES256 (ES384, ES512) for an EC P-256 (P-384, P-521) key. This
// refuses "alg": "none" and the classic confusion attack where a token is signed with HS256
// using the public key as the secret.
package auth
