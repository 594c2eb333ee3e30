// Package gotune holds the Go runtime setting that edgefn's own processes, the gateway and
// the plugins it starts, run with: sysmon, the runtime's monitor thread, stays on its
// back-off instead of sleeping deeply whenever the process idles.
//
// Go's sysmon sleeps 20 µs between rounds, doubling up to 10 ms while it finds nothing to do,
// and goes into a deep sleep when every processor is idle. The first system call after that
// wakes it (a futex wake-up on the caller's path) and resets its sleep to 20 µs. A gateway or
// plugin under load goes idle for a moment thousands of times a second, waiting for the other
// side of the data path or for its clients, so sysmon spends most of its time waking every
// 20 µs: about 8 % of the gateway's CPU and 16 % of a plugin's in the hello benchmark (perf,
// see bench/README.md). golang/go#18236 asks for a setting; there is none.
//
// With GODEBUG's schedtrace set, sysmon never sleeps deeply (it must be awake to print the
// trace), so it is not reset either: it settles at one round every 10 ms under load and at
// idle. The period chosen, 2^31-1 ms (24.8 days), keeps the trace itself quiet: the runtime
// prints the first line once the machine's monotonic clock passes it, so a host up for longer
// than that gets one line of scheduler state on stderr at start and one every 24.8 days. An
// idle process wakes 100 times a second for it, about 0.3 % of a core.
package gotune

import "strings"

// Setting is what GODEBUG gets.
const Setting = "schedtrace=2147483647"

// GODEBUG returns the value of GODEBUG with Setting added, and whether it added it: not when
// the value sets schedtrace already (an operator's choice stands, schedtrace=0 among them).
func GODEBUG(value string) (string, bool) {
	for _, kv := range strings.Split(value, ",") {
		if k, _, _ := strings.Cut(strings.TrimSpace(kv), "="); k == "schedtrace" {
			return value, false
		}
	}
	if strings.TrimSpace(value) == "" {
		return Setting, true
	}
	return value + "," + Setting, true
}
