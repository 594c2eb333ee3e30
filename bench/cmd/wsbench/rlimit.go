package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises this process's soft limit of open files to its hard limit, which the
// servers it starts inherit, and fails when even that is below need: every client is a file
// here and a connection there.
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	if lim.Cur < uint64(need) {
		return fmt.Errorf("the open files limit is %d, and this run needs about %d: raise the hard limit (ulimit -Hn) or lower -conns", lim.Cur, need)
	}
	return nil
}
