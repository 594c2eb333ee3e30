// Package bench holds edgefn's benchmarks: what the gateway and its plugins cost against a raw
// Fiber server doing the same work (rawfiber/). The numbers of README.md come from
// cmd/edgebench, which drives the real binaries with wrk and an open-loop load generator;
// http_test.go keeps a `go test -bench` form of the throughput comparison.
package bench
