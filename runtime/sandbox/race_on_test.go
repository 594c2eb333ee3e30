//go:build race

package sandbox

// raceEnabled: the test binary, which the tests also run as a sandboxed process, is built with
// the race detector, whose shadow memory no RLIMIT_DATA admits.
const raceEnabled = true
