package fn

import "github.com/edgefn/edgefn/runtime/fn/internal/pluginserver"

// SDKVersion is the version of this SDK, reported to the gateway.
const SDKVersion = "0.2.0"

// Serve runs h as an edgefn function plugin. It returns only when the gateway stops the
// plugin; run outside edgefn it prints how to use the binary and exits.
func Serve(h Handler) { pluginserver.Serve(h, SDKVersion) }
