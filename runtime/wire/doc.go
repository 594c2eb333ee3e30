// Package wire is the data path between the gateway and a function plugin: length-prefixed frames
// multiplexed by request ID over one Unix socket, with writes combined under load.
//
// A frame is a 13-byte header (payload length uint32, kind byte, request ID uint64, big endian)
// followed by the payload, a protobuf message of runtime/proto. Requests and responses of many
// concurrent invocations interleave on the one connection; concurrent senders share one buffer
// and the last of them flushes, so a busy connection makes few syscalls. Queue and stream
// triggers send what they received together as one batch frame, answered by one frame. go-plugin still owns
// the process, the handshake, health checks and checksums; only invocations travel here.
package wire
