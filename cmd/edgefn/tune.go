package main

import (
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/edgefn/edgefn/internal/gotune"
)

// tuneServe re-executes `edgefn serve` with GODEBUG extended by gotune.Setting, which the Go
// runtime reads only when a process starts (see package gotune for why). It returns when the
// command is another one, GODEBUG sets schedtrace already (as it does after the re-exec), or
// the exec fails: the server then runs with the runtime's defaults.
func tuneServe(args []string) {
	value, add := gotune.GODEBUG(os.Getenv("GODEBUG"))
	if !add || !slices.Contains(args, "serve") {
		return
	}
	if cmd, _, err := newRootCmd(os.LookupEnv).Find(args); err != nil || cmd.Name() != "serve" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	_ = syscall.Exec(exe, os.Args, append(env, "GODEBUG="+value))
}
