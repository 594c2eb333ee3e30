// Package startheap backs the beginning of a process's Go heap with transparent huge pages
// while the process starts, where the kernel gives huge pages only to memory that asks for
// them (transparent_hugepage "madvise", the default of most distributions). edgefn's CLI and
// every function plugin import it, so that its init runs among the first.
//
// A process's start is mostly page faults on memory it touches for the first time: the
// package inits of edgefn's dependencies (protobuf registries, gRPC, Prometheus, OpenTelemetry)
// allocate a megabyte or more, spread over a span per size class, and a plugin allocates as
// much before its handshake. Each 4 KiB page costs a fault. Where faults are expensive, in
// virtual machines whose guest page tables the hypervisor shadows (11 µs a fault on the
// Firecracker-like machine of bench/README.md, against about 1 µs per page when the same
// memory is populated in one call), those faults are a large share of a start: about 340 of
// the CLI's 980. init advises the first heap arena MADV_HUGEPAGE and collapses each 2 MiB of
// it that already has pages into one huge page (MADV_COLLAPSE): the heap then takes one fault
// per 2 MiB instead of one per 4 KiB. The runtime maps its heap 4 MiB at a time, at a random
// offset of its first arena, and a chunk it maps after this init does not carry the advice:
// when the heap started near the end of its first chunk, the package inits after this one
// fault 4 KiB pages again (edgefn version: 590 to 900 faults, against 980 without).
//
// Go's runtime asks for no huge pages for its heap (it stopped doing so in Go 1.21.1, after
// eager collapsing cost CPU in long-running services). Processes that run on after their
// start call Done, which withdraws the advice: what was faulted in as huge pages stays so, the
// rest of the process's life follows the system's default again.
//
// It does nothing when the system's setting is "always" (huge pages already) or "never" (the
// administrator's choice), on other systems than 64-bit Linux, and when the environment sets
// EDGEFN_STARTUP_HUGEPAGES=0 (a plugin sees only its manifest's env: set it there).
package startheap

// EnvDisable is the environment variable that turns the advice off when set to "0".
const EnvDisable = "EDGEFN_STARTUP_HUGEPAGES"
