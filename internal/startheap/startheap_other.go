//go:build !linux || !(amd64 || arm64)

package startheap

// Done does nothing here: the advice is for 64-bit Linux only.
func Done() {}

// Advising is false here: nothing is advised.
func Advising() bool { return false }
