//go:build linux

package runtime

import (
	"os/exec"
	"syscall"
)

// bindToParent makes the kernel kill the plugin when the gateway dies, even by SIGKILL.
func bindToParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
