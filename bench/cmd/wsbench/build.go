package main

import (
	"context"
	"io"
)

// bins are the servers a run starts.
type bins struct {
	// edgefn is the gateway (./cmd/edgefn); rawws the baseline (./bench/rawws).
	edgefn, rawws string
}

// binaries builds edgefn and rawws into tmp as users build them (default flags), or takes
// them from -prebuilt.
func binaries(ctx context.Context, o options, tmp string, progress io.Writer) (bins, error) {
	paths, err := cmd.Build(ctx, o.Prebuilt, tmp, progress, "edgefn and ./bench/rawws")
	if err != nil {
		return bins{}, err
	}
	return bins{edgefn: paths[0], rawws: paths[1]}, nil
}
