// Package launch is the step between fork and exec of a sandboxed plugin process
// (docs/security.md): the gateway starts its own binary under the name Arg0, in the new
// namespaces it asked the kernel for, and this package's init sees that name and, before the
// rest of the program initializes, mounts the function's private /proc, hides --data-dir and
// the temporary folder, sets its rlimits, drops to the function's uid, sets no_new_privs,
// marks every inherited descriptor close-on-exec and execs the plugin binary from the
// descriptor its job brought. A launcher started with KeyJob waits, already in its namespaces and cgroups, for
// its function: the gateway keeps a few ready and sends one the rest when a plugin must start
// (see ReadJob's counterpart, sandbox.Sandbox.Start). Any step that fails ends the process
// with status 126 and the step on stderr, which the gateway logs as the start's failure.
//
// It imports only what package os does, so that it runs early: a plugin start pays the
// kernel's fork and exec twice, and only a few packages' initialization.
package launch

// Arg0 is the name the gateway gives its own binary to make it the launcher.
const Arg0 = "edgefn-sandbox"

// JobFD is the socket a launcher started with KeyJob gets its job on: one byte carrying the
// binary's descriptor (SCM_RIGHTS), then the arguments, an empty one, and the environment,
// each ended by a NUL byte, then the end of the stream. A launcher without a job only probes.
const JobFD = 3

// Argument keys of the launcher, each given as key=value after Arg0.
const (
	KeyUID    = "uid"    // switch to this uid and gid (the gateway runs as root)
	KeyDrop   = "drop"   // drop every capability (a user namespace: uid 0 there is not root)
	KeyMounts = "mounts" // the process has a mount and PID namespace of its own: mount /proc, hide, bind
	KeyHide   = "hide"   // a folder to cover with an empty read-only tmpfs (repeatable)
	KeyDir    = "dir"    // the function's private working folder: cwd, TMPDIR, the only writable one
	KeyJob    = "job"    // read the rest of the arguments, the environment and the binary from JobFD
	KeyLimit  = "rlimit" // NAME:VALUE, NAME one of nofile, nproc, data (repeatable)
	KeyProbe  = "probe"  // do every step but exec, then exit 0: the gateway's start-up check
)
