package main

import (
	"context"
	"io"
)

// bins are the programs a run starts.
type bins struct {
	// edgefn is the gateway (./cmd/edgefn); noop is the function plugin (./noop).
	edgefn, noop string
}

// noopPackage is the plugin's package, relative to the repository.
const noopPackage = "./bench/cmd/triggerbench/noop"

// binaries builds edgefn and noop into tmp as users build them (default flags), or takes them
// from -prebuilt.
func binaries(ctx context.Context, o options, tmp string, progress io.Writer) (bins, error) {
	paths, err := cmd.Build(ctx, o.Prebuilt, tmp, progress, "edgefn and "+noopPackage)
	if err != nil {
		return bins{}, err
	}
	return bins{edgefn: paths[0], noop: paths[1]}, nil
}
