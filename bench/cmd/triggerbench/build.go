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
	dir := tmp
	if o.prebuilt != "" {
		dir = o.prebuilt
	}
	b := bins{edgefn: filepath.Join(dir, "edgefn"), noop: filepath.Join(dir, "noop")}
	if o.prebuilt != "" {
		for _, p := range []string{b.edgefn, b.noop} {
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
	fmt.Fprintln(progress, "building edgefn and", noopPackage)
	for _, x := range []struct{ out, pkg string }{{b.edgefn, "./cmd/edgefn"}, {b.noop, noopPackage}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", x.out, x.pkg)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return bins{}, fmt.Errorf("go build %s: %w\n%s", x.pkg, err, out)
		}
	}
	return b, nil
}
