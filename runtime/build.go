package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Build compiles the Go package in dir into the plugin binary out with the go tool on PATH,
// stripped of symbols (a smaller binary uploads, hashes and starts faster).
// The function's module must be able to resolve github.com/edgefn/edgefn (a dependency or a
// replace directive).
func Build(ctx context.Context, dir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
