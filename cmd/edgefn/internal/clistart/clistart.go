// Package clistart makes edgefn's client commands start faster: edgefn's main package imports
// it for its init alone, which runs among the first of the binary's package inits (it
// imports little) and, unless the command line runs a command that keeps running, backs the
// heap with huge pages for the rest of the start (internal/startheap). On the benchmark
// machine, where a page fault costs 11 µs, `edgefn version` went from 980 page faults to
// 590–900, and its exec-to-exit time by 3–5 ms (bench/README.md).
//
// `edgefn serve` serves requests and `edgefn dev` runs as long as the user edits: huge pages
// in a serving heap lengthened the gateway's latency tail, so neither gets them. The command
// is recognised before flags are parsed, by any argument that names it: a client command with
// an argument spelled "serve" or "dev" (a manifest file so named, say) only starts without
// huge pages.
package clistart

import (
	"os"

	"github.com/edgefn/edgefn/internal/startheap"
)

func init() {
	if shortLived(os.Args[1:]) {
		startheap.Start()
	}
}

// shortLived reports whether the command line args (without the program name) runs a
// command that exits within moments: none of them names serve or dev, which run until stopped.
func shortLived(args []string) bool {
	for _, a := range args {
		if a == "serve" || a == "dev" {
			return false
		}
	}
	return true
}
