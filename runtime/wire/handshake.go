package wire

import "github.com/hashicorp/go-plugin"

// PluginName is the name under which a function plugin registers its service.
const PluginName = "function"

// Handshake is shared by the gateway and every function plugin. The protocol version changes
// when the data path changes incompatibly; a plugin built with another SDK generation is refused
// at start with a clear error instead of failing its first invocation.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "EDGEFN_PLUGIN",
	MagicCookieValue: "4c7b1b9e-edgefn-function",
}

// MaxGRPCMessage raises gRPC's 4 MiB default on both sides of the control connection.
const MaxGRPCMessage = MaxPayload
