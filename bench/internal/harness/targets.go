package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// helloBody is what GET /hello/x answers on both targets.
const helloBody = `{"message":"hello, x"}`

// StartRawFiber starts the baseline and waits until it greets.
func StartRawFiber(ctx context.Context, bins Binaries) (*Server, error) {
	return StartServer(ctx, "rawfiber", bins.RawFiber, []string{"--listen", "{addr}"},
		Check{Path: "/healthz", Status: 200},
		Check{Path: "/hello/x", Status: 200, Body: helloBody})
}

// StartEdgefn starts `edgefn serve` with the hello function on a fresh data dir under tmp and
// waits until hello greets through it. Its own log is at warn level, so that logging costs
// nothing per request.
func StartEdgefn(ctx context.Context, bins Binaries, tmp string) (*Server, error) {
	dir, err := os.MkdirTemp(tmp, "edgefn-")
	if err != nil {
		return nil, err
	}
	m, err := WriteHelloManifest(dir, bins.Hello)
	if err != nil {
		return nil, err
	}
	return StartServer(ctx, "edgefn", bins.Edgefn, []string{
		"serve", "--listen", "{addr}", "--data-dir", filepath.Join(dir, "data"),
		"--manifests", m, "--log-level", "warn", "--grace", "5s",
	},
		Check{Path: "/healthz", Status: 200},
		Check{Path: "/hello/x", Status: 200, Body: helloBody})
}

// WriteHelloManifest writes the manifest of the hello function (concurrency 1000, GET
// /hello/{name}) for the plugin at binary into dir and returns its path.
func WriteHelloManifest(dir, binary string) (string, error) {
	return writeManifest(dir, "hello", binary, "/hello/{name}")
}

func writeManifest(dir, name, binary, path string) (string, error) {
	if !filepath.IsAbs(binary) {
		return "", errors.New("the handler must be an absolute path")
	}
	file := filepath.Join(dir, name+".yaml")
	return file, os.WriteFile(file, manifest(name, binary, path), 0o600)
}

func manifest(name, binary, path string) []byte {
	return fmt.Appendf(nil, "name: %s\nhandler: %s\nconcurrency: 1000\ntriggers:\n  - http: {method: GET, path: %q}\n",
		name, binary, path)
}
