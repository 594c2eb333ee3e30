//go:build !linux

package harness

import (
	"errors"
	"time"
)

var errNoProc = errors.New("CPU accounting needs Linux's /proc")

// CPU is only implemented on Linux.
func (s *Server) CPU() (self, children time.Duration, err error) {
	return 0, 0, errNoProc
}

func processCPU(int) (time.Duration, error) { return 0, errNoProc }

// MachineCPU is only implemented on Linux.
func MachineCPU() (busy, total time.Duration, err error) { return 0, 0, errNoProc }

// SelfCPU is only implemented on Linux.
func SelfCPU() time.Duration { return 0 }
