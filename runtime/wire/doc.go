// Package wire is the data path between the gateway and a function plugin: length-prefixed frames
// multiplexed by request ID over one Unix socket, with writes combined under load, and the one
// codec of what the frames carry, used by both ends.
//
// A frame is a 13-byte header (payload length uint32, kind byte, request ID uint64, big endian)
// followed by the payload, a protobuf message of runtime/proto. Requests and responses of many
// concurrent invocations interleave on the one connection; concurrent senders share one buffer
// and the last of them flushes, so a busy connection makes few syscalls. Queue and stream
// triggers send what they received together as one batch frame, answered by one frame. go-plugin
// still owns the process, the handshake, health checks and checksums; only invocations travel here,
// and the calls a handler makes to the host while it runs (fn.Presence): KindHostCall frames of
// the plugin, with IDs of its own, answered by the host's KindHostReply, both carrying JSON.
//
// The payloads are built from and read into runtime/event's types: the host appends a Request
// (AppendRequest, AppendBatchRequest) and reads the plugin's Response (DecodeResponse,
// DecodeBatchResponse); the plugin reads the Request (DecodeRequest, DecodeBatchRequest) and
// appends its Response (AppendResponse, AppendBatchResponse). The bytes are the protobuf encoding
// of function.proto, written and read with protowire: no reflection on the path of an invocation.
// The field numbers live in schema.go alone.
package wire
