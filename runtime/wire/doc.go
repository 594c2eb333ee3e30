// Package wire is the data path between the gateway and a function plugin: length-prefixed frames
// multiplexed by request ID over one Unix socket, with one batching writer per side.
//
// A frame is a 13-byte header (payload length uint32, kind byte, request ID uint64, big endian)
// followed by the payload, a protobuf message of runtime/proto. Requests and responses of many
// concurrent invocations interleave on the one connection; the writer coalesces whatever is queued
// into one write, so a busy connection makes few syscalls. go-plugin still owns the process, the
// handshake, health checks and checksums; only invocations travel here.
package wire
