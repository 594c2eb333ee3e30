package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// BuildFlags are the flags of `go build` for a plugin binary, which edgefn builds with
// CGO_ENABLED=0 too: stripped of symbols and paths, since a smaller binary uploads, hashes and
// starts faster (bench/README.md has the sizes).
var BuildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// Build compiles the Go package in dir into the plugin binary out with the go tool on PATH,
// with BuildFlags. The function's module must be able to resolve github.com/edgefn/edgefn (a
// dependency or a replace directive).
func Build(ctx context.Context, dir, out string) error {
	args := append(append([]string{"build"}, BuildFlags...), "-o", out, ".")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
