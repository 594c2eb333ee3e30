//go:build !linux || !(amd64 || arm64)

package startheap

// Start does nothing here: the advice is for 64-bit Linux only. It reports false.
func Start() bool { return false }
