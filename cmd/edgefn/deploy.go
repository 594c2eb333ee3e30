package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

func newDeployCmd() *cobra.Command {
	var (
		ifVersion int
		wait      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy FILE...",
		Short: "Build if needed, upload and start the functions of manifest files",
		Long: "deploy checks every manifest file first and deploys nothing if any is invalid.\n" +
			"It then builds each function whose manifest has `build:`, uploads the manifest and\n" +
			"the plugin binary, and prints the version the server runs.",
		Args: minArgs(1, "at least one manifest FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("if-version") && ifVersion < 1 {
				return fmt.Errorf("--if-version %d: want a version number, 1 or more", ifVersion)
			}
			c.ifVersion = ifVersion
			return deploy(cmd.Context(), c, cmd.OutOrStdout(), cmd.ErrOrStderr(), args, wait)
		},
	}
	cmd.Flags().IntVar(&ifVersion, "if-version", 0, "deploy only if the function's current version is N (else 409, nothing changes)")
	addWaitFlag(cmd, &wait)
	return cmd
}

// manifestFile is one manifest file given to deploy.
type manifestFile struct {
	// path is the file's path as the user gave it; the server names the file so in messages.
	path string
	data []byte
	set  *manifest.Set
}

// deploy parses every file, then builds and uploads their functions in order, then waits up
// to wait until every node of the cluster runs them.
func deploy(ctx context.Context, c *client, stdout, stderr io.Writer, paths []string, wait time.Duration) error {
	files, err := parseManifests(paths)
	if err != nil {
		return err
	}
	var changes []change
	for _, f := range files {
		for _, fn := range f.set.Functions {
			res, err := deployFunction(ctx, c, stderr, f, fn)
			if err != nil {
				return fmt.Errorf("deploy %s: %w", fn.Name, err)
			}
			if res.Unchanged {
				fmt.Fprintf(stdout, "%s unchanged at version %d\n", res.Name, res.Version)
			} else {
				fmt.Fprintf(stdout, "deployed %s version %d\n", res.Name, res.Version)
			}
			changes = append(changes, change{name: res.Name, version: res.Version})
		}
	}
	rules, err := deployRules(ctx, c, stdout, files)
	if err != nil {
		return err
	}
	if rules != nil {
		changes = append(changes, *rules)
	}
	return waitForNodes(ctx, c, stdout, wait, changes)
}

// parseManifests reads and validates every file, and checks their functions against each
// other (names, routes). It returns every problem of every file at once.
func parseManifests(paths []string) ([]manifestFile, error) {
	var (
		files []manifestFile
		all   []*manifest.Function
		errs  []error
	)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, unwrapPath(err)))
			continue
		}
		set, err := manifest.Parse(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, manifestFile{path: p, data: data, set: set})
		all = append(all, set.Functions...)
	}
	if len(errs) == 0 && len(paths) > 1 {
		errs = append(errs, manifest.CheckConflicts(all))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(all) == 0 && !slices.ContainsFunc(files, func(f manifestFile) bool { return len(f.set.Topics) > 0 }) {
		return nil, errors.New("the manifests declare no function and no topic rules")
	}
	return files, nil
}

// unwrapPath drops the operation and path of a *os.PathError, which the caller already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// deployFunction builds fn when its manifest says so and uploads it.
func deployFunction(ctx context.Context, c *client, stderr io.Writer, f manifestFile,
	fn *manifest.Function) (*versionResult, error) {
	binary := fn.Handler
	if fn.Build != "" {
		dir, err := os.MkdirTemp("", "edgefn-build-")
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, fn.Name)
		fmt.Fprintf(stderr, "building %s from %s\n", fn.Name, fn.Build)
		if err := runtime.Build(ctx, fn.Build, binary); err != nil {
			return nil, err
		}
	}
	return upload(ctx, c, fn.Name, f, binary)
}

// upload sends PUT /admin/v1/functions/{name} with the manifest file and the plugin binary
// as multipart/form-data. The binary is streamed from disk, never held in memory, and the
// body's length is sent up front.
func upload(ctx context.Context, c *client, name string, f manifestFile, binary string) (*versionResult, error) {
	body, err := newUploadBody(f.path, f.data, binary)
	if err != nil {
		return nil, err
	}
	rc, err := body.open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var res versionResult
	err = c.callJSON(ctx, request{
		method:        http.MethodPut,
		path:          functionPath(name) + c.ifVersionQuery(),
		header:        http.Header{deployerHeader: {deployer()}},
		body:          rc,
		contentType:   body.contentType,
		contentLength: body.length,
		getBody:       body.open,
	}, &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// uploadBody is a multipart/form-data body of two parts: `manifest` (named as the user named
// the file) and `binary` (read from disk each time the body is opened).
type uploadBody struct {
	// head is everything before the binary's bytes: the manifest part and the binary part's
	// header; tail closes the binary part and the body.
	head, tail  []byte
	binary      string
	contentType string
	// length is the whole body's length in bytes.
	length int64
}

// newUploadBody lays out the body around the binary file at binary.
func newUploadBody(manifestName string, manifestData []byte, binary string) (*uploadBody, error) {
	info, err := os.Stat(binary)
	if err != nil {
		return nil, fmt.Errorf("plugin binary: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("plugin binary %s: not a regular file", binary)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreatePart(formFile("manifest", manifestName))
	if err != nil {
		return nil, fmt.Errorf("multipart: %w", err)
	}
	if _, err := part.Write(manifestData); err != nil {
		return nil, fmt.Errorf("multipart: %w", err)
	}
	if _, err := mw.CreateFormFile("binary", filepath.Base(binary)); err != nil {
		return nil, fmt.Errorf("multipart: %w", err)
	}
	headLen := buf.Len()
	if err := mw.Close(); err != nil { // writes the closing boundary
		return nil, fmt.Errorf("multipart: %w", err)
	}
	all := buf.Bytes()
	b := &uploadBody{
		head:        all[:headLen],
		tail:        all[headLen:],
		binary:      binary,
		contentType: mw.FormDataContentType(),
	}
	b.length = int64(len(b.head)) + info.Size() + int64(len(b.tail))
	return b, nil
}

// formFile is the header of a file part. Unlike multipart.Writer.CreateFormFile, it keeps
// the folders of filename, so that the server names the manifest as the user did.
func formFile(field, filename string) textproto.MIMEHeader {
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{
		"name": field, "filename": filename,
	}))
	h.Set("Content-Type", "application/octet-stream")
	return h
}

// open returns a fresh reader of the whole body; closing it closes the binary file.
func (b *uploadBody) open() (io.ReadCloser, error) {
	f, err := os.Open(b.binary)
	if err != nil {
		return nil, fmt.Errorf("plugin binary: %w", err)
	}
	r := io.MultiReader(bytes.NewReader(b.head), f, bytes.NewReader(b.tail))
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}
