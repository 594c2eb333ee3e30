// Package e2e holds edgefn's end-to-end tests: they build the real edgefn binary and real
// function plugins, start `edgefn serve` on a free port, and talk to it over HTTP like a user.
package e2e
