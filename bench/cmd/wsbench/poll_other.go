//go:build !linux

package main

// pollers and pollState exist on Linux only (poll_linux.go).
type (
	pollers   struct{}
	pollState struct{}
)

// startReading reads each client in a goroutine of its own.
func (f *fleet) startReading() { f.startReaders() }

func (f *fleet) stopReading() {}
