package runtime

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/hashicorp/go-plugin/runner"

	"github.com/edgefn/edgefn/runtime/sandbox"
)

// sandboxRunner starts a sandboxed plugin process for go-plugin (its RunnerFunc) as
// go-plugin's own runner starts a command, and places it in its cgroups the moment it exists,
// while the launcher is still starting (sandbox.Run.Place).
type sandboxRunner struct {
	cmd            *exec.Cmd
	run            *sandbox.Run
	name           string
	stdout, stderr io.ReadCloser
	pid            int
}

var _ runner.Runner = (*sandboxRunner)(nil)

func newSandboxRunner(cmd *exec.Cmd, run *sandbox.Run, name string) (*sandboxRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &sandboxRunner{cmd: cmd, run: run, name: name, stdout: stdout, stderr: stderr}, nil
}

func (r *sandboxRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.pid = r.cmd.Process.Pid
	if err := r.run.Place(r.pid); err != nil {
		r.cmd.Process.Kill()
		return err
	}
	return nil
}

func (r *sandboxRunner) Wait(context.Context) error { return r.cmd.Wait() }

func (r *sandboxRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	// Kill may be called more than once.
	if err := r.cmd.Process.Kill(); !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *sandboxRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *sandboxRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *sandboxRunner) Name() string                    { return r.name }
func (r *sandboxRunner) ID() string                      { return strconv.Itoa(r.pid) }
func (r *sandboxRunner) Diagnose(context.Context) string { return "" }

// The plugin's sockets are in its working folder, at the same path for both sides.
func (r *sandboxRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *sandboxRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
