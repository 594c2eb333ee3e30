// Package guard holds the gateway's defences in front of function routes and the WebSocket
// endpoint: finding a request's client IP ([ClientIP]), per-client-IP rate limits ([Limiter]),
// caps on open connections per client IP and in all ([ConnLimit]) and CORS for browser
// callers ([CORS]). The limits count a client as [ClientKey] says: an IPv4 address, or the /64
// of an IPv6 address.
//
// The client IP is the TCP peer's address. X-Forwarded-For is believed only when the peer is
// a trusted proxy (the --trusted-proxies list); then the header is read from the right, each
// hop a trusted proxy vouches for, and the first address that is not itself a trusted proxy
// is the client. A client cannot choose its IP by sending the header itself: an untrusted peer's
// header is ignored, and a trusted proxy appends the real peer to whatever the client sent.
//
// A [Limiter] keeps one token bucket (golang.org/x/time/rate) per client in a table that is
// bounded (the oldest-looking entry is evicted when full) and expiring (an entry idle long
// enough to have refilled its bucket is dropped, which loses nothing).
//
// The handlers report refusals as *fiber.Error values, which the gateway's error handler
// turns into its JSON error body; a 429 carries Retry-After.
package guard
