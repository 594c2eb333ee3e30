package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// bins are the servers a run starts.
type bins struct {
	// edgefn is the gateway (./cmd/edgefn); rawws the baseline (./bench/rawws).
	edgefn, rawws string
}

// binaries builds edgefn and rawws into tmp as users build them (default flags), or takes
// them from -prebuilt.
func binaries(ctx context.Context, o options, tmp string, progress io.Writer) (bins, error) {
	dir := tmp
	if o.prebuilt != "" {
		dir = o.prebuilt
	}
	b := bins{edgefn: filepath.Join(dir, "edgefn"), rawws: filepath.Join(dir, "rawws")}
	if o.prebuilt != "" {
		for _, p := range []string{b.edgefn, b.rawws} {
			if _, err := os.Stat(p); err != nil {
				return bins{}, fmt.Errorf("prebuilt binaries: %w", err)
			}
		}
		return b, nil
	}
	repo, err := harness.RepoRoot(ctx)
	if err != nil {
		return bins{}, err
	}
	fmt.Fprintln(progress, "building edgefn and ./bench/rawws")
	for _, x := range []struct{ out, pkg string }{{b.edgefn, "./cmd/edgefn"}, {b.rawws, "./bench/rawws"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", x.out, x.pkg)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return bins{}, fmt.Errorf("go build %s: %w\n%s", x.pkg, err, out)
		}
	}
	return b, nil
}
