// Package bench holds edgefn's benchmarks, each against a baseline measured in the same run:
// the HTTP path against a raw Fiber server doing the same work (rawfiber/, cmd/edgebench),
// queue and stream triggers against raw amqp091 and go-redis consumers (cmd/triggerbench),
// WebSocket fan-out against a hand-written Fiber WebSocket server (rawws/, cmd/wsbench), and
// async calls against the synchronous call of the same function (cmd/asyncbench). They drive
// the real binaries; README.md holds their results. http_test.go keeps a `go test -bench` form
// of the HTTP throughput comparison.
package bench
