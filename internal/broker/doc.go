// Package broker holds what connecting to Redis and RabbitMQ have in common and what neither
// client library does for us: a TLS client configuration made from files (a CA, a client
// certificate and its key), and broker URLs and errors shown without their password
// (docs/securing.md). It imports no broker client; the backends in triggers/ take the
// *tls.Config it builds, and the command that wires them masks with it what it logs or returns.
package broker
