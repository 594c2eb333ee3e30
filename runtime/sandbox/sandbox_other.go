//go:build !(linux && (amd64 || arm64))

package sandbox

import (
	"errors"
	"io"
	"os"
)

// Config is what New needs.
type Config struct {
	Off     bool
	DataDir string
}

// Sandbox confines nothing outside Linux on amd64 and arm64: plugins run as plain children of the gateway.
type Sandbox struct{}

// New returns a sandbox that confines nothing.
func New(Config) (*Sandbox, error) { return &Sandbox{}, nil }

// On is false: nothing is confined.
func (s *Sandbox) On() bool { return false }

// Describe says nothing is confined, and why.
func (s *Sandbox) Describe() (isolation, refused string) {
	return "off", "plugins are confined on Linux (amd64, arm64) only"
}

// Close does nothing.
func (s *Sandbox) Close() {}

// Proc is nothing here.
type Proc struct{}

// Start is never called: On is false.
func (s *Sandbox) Start(Process, *os.File, []string) (*Proc, error) {
	return nil, errors.New("sandbox: Linux (amd64, arm64) only")
}

func (p *Proc) Stdout() io.ReadCloser { return nil }
func (p *Proc) Stderr() io.ReadCloser { return nil }
func (p *Proc) Pid() int              { return 0 }
func (p *Proc) Wait() error           { return nil }
func (p *Proc) Kill() error           { return nil }
func (p *Proc) Isolation() string     { return "off" }
func (p *Proc) MemoryKilled() bool    { return false }
func (p *Proc) Close()                {}
