package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is the gateway's garbage-collection target when GOGC is not set. The gateway's
// live heap is small (routes, connections, buffers in flight) while it allocates briskly per
// message and request; Go's default of 100 then collects several times a second and the
// collector takes a fifth of the CPU under load. 400 lets the heap grow to five times the live
// data between collections: a few more megabytes for about a quarter more messages a second
// (bench/README.md). GOGC in the environment still decides.
const gcPercent = 400

func init() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}
