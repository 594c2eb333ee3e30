package runtime

import (
	"context"
	"io"
	"os"
	"strconv"

	"github.com/hashicorp/go-plugin/runner"

	"github.com/edgefn/edgefn/runtime/sandbox"
)

// sandboxRunner starts a sandboxed plugin process for go-plugin (its RunnerFunc): through one
// of the sandbox's launchers, kept ready in their namespaces and cgroups (sandbox.Start).
type sandboxRunner struct {
	sb   *sandbox.Sandbox
	p    sandbox.Process
	bin  *os.File
	env  []string
	name string
	// proc is the started process, once Start has run.
	proc *sandbox.Proc
}

var _ runner.Runner = (*sandboxRunner)(nil)

func (r *sandboxRunner) Start(context.Context) error {
	proc, err := r.sb.Start(r.p, r.bin, r.env)
	if err != nil {
		return err
	}
	r.proc = proc
	return nil
}

func (r *sandboxRunner) Wait(context.Context) error { return r.proc.Wait() }
func (r *sandboxRunner) Kill(context.Context) error { return r.proc.Kill() }
func (r *sandboxRunner) Stdout() io.ReadCloser      { return r.proc.Stdout() }
func (r *sandboxRunner) Stderr() io.ReadCloser      { return r.proc.Stderr() }
func (r *sandboxRunner) Name() string               { return r.name }
func (r *sandboxRunner) ID() string                 { return strconv.Itoa(r.proc.Pid()) }
func (r *sandboxRunner) Diagnose(context.Context) string {
	return ""
}

// The plugin's sockets are in its working folder, at the same path for both sides.
func (r *sandboxRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *sandboxRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
