//go:build linux

package harness

import (
	"os/exec"
	"syscall"
)

// bindToParent makes the kernel kill the child when this process dies, even by SIGKILL, so
// that no server outlives an interrupted benchmark.
func bindToParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
