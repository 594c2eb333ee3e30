//go:build !(linux && (amd64 || arm64))

package sandbox

import (
	"errors"
	"os"
	"os/exec"
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

// Run is nothing outside Linux.
type Run struct{}

// Command is never called: On is false.
func (s *Sandbox) Command(Process, *os.File) (*exec.Cmd, *Run, error) {
	return nil, nil, errors.New("sandbox: Linux only")
}

// Place does nothing.
func (r *Run) Place(int) error { return nil }

// Isolation is "off".
func (r *Run) Isolation() string { return "off" }

// MemoryKilled is false.
func (r *Run) MemoryKilled() bool { return false }

// Close does nothing.
func (r *Run) Close() {}
