package harness

import (
	"cmp"
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

// StartEdgefn starts `edgefn serve` with the hello function (see Serve) and waits until
// hello greets through it.
func StartEdgefn(ctx context.Context, bins Binaries, tmp string) (*Server, error) {
	if !filepath.IsAbs(bins.Hello) {
		return nil, errors.New("the handler must be an absolute path")
	}
	return Serve{Edgefn: bins.Edgefn, Dir: tmp, Manifest: string(manifest("hello", bins.Hello, "/hello/{name}"))}.Start(ctx,
		Check{Path: "/healthz", Status: 200},
		Check{Path: "/hello/x", Status: 200, Body: helloBody})
}

// Serve is an `edgefn serve` started for one measurement: on a fresh loopback port, with a
// data folder and a manifest of its own, and its log at warn level so that logging costs
// nothing per request.
type Serve struct {
	// Edgefn is the gateway binary.
	Edgefn string
	// Dir is where the gateway's own folder is made (the run's temporary folder), and Name
	// prefixes that folder; default "edgefn".
	Dir, Name string
	// Manifest is the YAML of the functions (or topics) it serves; empty, it starts with none.
	Manifest string
	// Flags are further flags of `edgefn serve`, such as "--redis", URL.
	Flags []string
}

// Start starts the gateway and waits (see StartServer) until every check gets its answer.
func (s Serve) Start(ctx context.Context, checks ...Check) (*Server, error) {
	name := cmp.Or(s.Name, "edgefn")
	dir, err := os.MkdirTemp(s.Dir, name+"-")
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--listen", "{addr}", "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn", "--grace", "5s",
		"--admin-token", AdminToken}
	if s.Manifest != "" {
		m := filepath.Join(dir, "manifest.yaml")
		if err := os.WriteFile(m, []byte(s.Manifest), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--manifests", m)
	}
	args = append(args, s.Flags...)
	return StartServer(ctx, "edgefn", s.Edgefn, args, checks...)
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
