//go:build !linux

package runtime

import "os/exec"

// bindToParent has no kernel support off Linux; go-plugin still stops plugins on a clean exit.
func bindToParent(*exec.Cmd) {}
