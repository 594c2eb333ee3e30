// Package startheap backs the beginning of a short-lived process's Go heap with transparent
// huge pages, where the kernel gives huge pages only to memory that asks for them
// (transparent_hugepage "madvise", the default of most distributions). edgefn's client
// commands call Start from one of their first package inits (cmd/edgefn/internal/clistart).
//
// A process's start is mostly page faults on memory it touches for the first time: the
// package inits of edgefn's dependencies (protobuf registries, gRPC, Prometheus, OpenTelemetry)
// allocate a megabyte or more, spread over a span per size class. Each 4 KiB page costs a
// fault. Where faults are expensive, in virtual machines whose guest page tables the
// hypervisor shadows (11 µs a fault on the Firecracker-like machine of bench/README.md,
// against about 1 µs per page when the same memory is populated in one call), those faults
// are a large share of a start: about 340 of `edgefn version`'s 980. Start advises the first
// heap arena MADV_HUGEPAGE and collapses each 2 MiB of it that already has pages into one huge
// page (MADV_COLLAPSE): the heap then takes one fault per 2 MiB instead of one per 4 KiB. The
// runtime maps its heap 4 MiB at a time, at a random offset of its first arena, and a chunk
// it maps later does not carry the advice: when the heap started near the end of its first
// chunk, what comes after faults 4 KiB pages again (edgefn version: 590 to 900 faults,
// against 980 without).
//
// Only for processes that exit within moments. Go's runtime asks for no huge pages for its
// heap (it stopped in Go 1.21.1, after eager collapsing cost CPU in long-running services),
// and a serving process with huge pages in its heap answered with a longer tail here: the
// gateway's or a plugin's p99.9 latency went from 3.3–4.3 ms to 6–13 ms in the benchmark of
// bench/README.md, whichever of the two had them.
//
// Start does nothing when the system's setting is "always" (huge pages already) or "never"
// (the administrator's choice), on other systems than 64-bit Linux with 4 KiB pages, and when
// the environment sets EDGEFN_STARTUP_HUGEPAGES=0. On a machine short of free huge pages the
// kernel compacts memory to collapse, which can cost more than it saves: that is what the
// variable is for.
package startheap

// EnvDisable is the environment variable that turns Start off when set to "0".
const EnvDisable = "EDGEFN_STARTUP_HUGEPAGES"
