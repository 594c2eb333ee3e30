// Package sandbox starts a function's plugin process isolated from the gateway and from
// other functions, within its limits (docs/security.md). On Linux, when the gateway runs as
// root, each function has a uid and gid of its own; a plugin also gets PID and mount
// namespaces with a private /proc, --data-dir and the temporary folder hidden, a private
// working folder, no_new_privs, no capabilities and only its standard descriptors. When the
// gateway is not root, a user namespace stands in for the uid. What the kernel refuses is
// said once at start (Describe) and shown per function (Process.Isolation). The step between
// fork and exec is package launch.
package sandbox

import (
	"strconv"
	"strings"
)

// Limits bound one plugin process (docs/manifest.md, `limits`). Zero means no limit.
type Limits struct {
	// Memory in bytes.
	Memory int64
	// Processes counts the process's threads and children.
	Processes int
	// Files is the most open descriptors.
	Files int
	// CPU is in cores, fractions allowed.
	CPU float64
}

// FirstUID is the uid (and gid) of the first function when the gateway runs as root; the
// n-th function deployed on a data dir gets FirstUID+n-1. They are far above login accounts
// and the usual subordinate-uid ranges.
const FirstUID = 2_000_000_000

// rlimitDataSlack is added to a memory limit enforced as RLIMIT_DATA: what a Go program maps
// writable for its runtime's own bookkeeping (its heap arena index alone is 32 MiB).
const rlimitDataSlack = 64 << 20

// Process is one plugin process to start.
type Process struct {
	// Function names the process in its working folder and cgroups.
	Function string
	// UID is the function's uid and gid when the gateway runs as root.
	UID int
	// Limits are the function's.
	Limits Limits
}

// mib formats bytes for a description.
func mib(b int64) string {
	switch {
	case b%(1<<30) == 0:
		return strconv.FormatInt(b>>30, 10) + "Gi"
	case b%(1<<20) == 0:
		return strconv.FormatInt(b>>20, 10) + "Mi"
	}
	return strconv.FormatInt(b, 10)
}

// describeLimits says how each limit is enforced: "cgroup v1 memory 256Mi, ..., rlimit files 1024".
func describeLimits(via string, cg, rl []string) string {
	var parts []string
	if len(cg) > 0 {
		parts = append(parts, via+" "+strings.Join(cg, ", "))
	}
	if len(rl) > 0 {
		parts = append(parts, "rlimit "+strings.Join(rl, ", "))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}
