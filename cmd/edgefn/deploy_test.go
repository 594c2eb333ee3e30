package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// received is what a fake server received in one deploy.
type received struct {
	manifestName, manifest string
	binaryName             string
	binary                 []byte
}

// deployServer fakes PUT /admin/v1/functions/{name}: it checks the token, reads the multipart
// parts and answers with version.
func deployServer(t *testing.T, name string, version int, unchanged bool, got *received) string {
	t.Helper()
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodPut, path: "/admin/v1/functions/" + name, token: "tok",
		answer: func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength <= 0 {
				t.Errorf("Content-Length %d, want the body's length", r.ContentLength)
			}
			mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "multipart/form-data" {
				t.Errorf("Content-Type %q: %v", r.Header.Get("Content-Type"), err)
				return
			}
			readParts(t, multipart.NewReader(r.Body, params["boundary"]), got)
			answerJSON(http.StatusOK, fmt.Sprintf(`{"name":%q,"version":%d,"unchanged":%t}`, name, version, unchanged))(w, r)
		},
	})
	return url
}

// readParts reads the manifest and binary parts into got, failing on any other part.
func readParts(t *testing.T, mr *multipart.Reader, got *received) {
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Errorf("multipart: %v", err)
			return
		}
		data, _ := io.ReadAll(p)
		switch p.FormName() {
		case "manifest":
			if i != 0 {
				t.Errorf("manifest is part %d, want the first, before the binary", i)
			}
			// Part.FileName drops the folders; the client sends the path as given.
			_, params, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			got.manifestName, got.manifest = params["filename"], string(data)
		case "binary":
			got.binaryName, got.binary = p.FileName(), data
		default:
			t.Errorf("unexpected part %q", p.FormName())
		}
	}
}

// inDir makes dir the working folder for the rest of the test.
func inDir(t *testing.T, dir string) {
	t.Helper()
	t.Chdir(dir)
}

func TestDeployUploadsManifestAndBinary(t *testing.T) {
	dir := t.TempDir()
	inDir(t, dir)
	const doc = "name: hello\nhandler: bin/hello\ntriggers:\n  - http: {method: GET, path: /hello}\n"
	binary := bytes.Repeat([]byte("\x7fELF plugin "), 50_000) // bigger than any one buffer
	writeFile(t, "manifests/hello.yaml", doc)
	writeFile(t, "manifests/bin/hello", string(binary))

	var got received
	url := deployServer(t, "hello", 3, false, &got)
	res := cli{env: map[string]string{"EDGEFN_TOKEN": "tok"}}.run(t, "deploy", "--server", url, "manifests/hello.yaml")
	wantOutput(t, res, exitOK, "deployed hello version 3\n")
	if got.manifestName != "manifests/hello.yaml" || got.manifest != doc {
		t.Errorf("manifest part %q: %q", got.manifestName, got.manifest)
	}
	if got.binaryName != "hello" || !bytes.Equal(got.binary, binary) {
		t.Errorf("binary part %q: %d bytes, want %d", got.binaryName, len(got.binary), len(binary))
	}
}

func TestDeployUnchanged(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f.yaml"), "name: same\nhandler: ./same\n")
	writeFile(t, filepath.Join(dir, "same"), "binary")
	url := deployServer(t, "same", 2, true, new(received))
	res := runCLI(t, "deploy", "--server", url, "--token", "tok", filepath.Join(dir, "f.yaml"))
	wantOutput(t, res, exitOK, "same unchanged at version 2\n")
}

func TestDeployInvalidManifestsDeployNothing(t *testing.T) {
	dir := t.TempDir()
	inDir(t, dir)
	writeFile(t, "good.yaml", "name: good\nhandler: ./good\n")
	writeFile(t, "good", "binary")
	writeFile(t, "bad.yaml", "name: Bad_Name\nhandler: ./bad\ntimeout: soon\n")
	url, calls := fakeAdmin(t, adminCall{method: http.MethodPut, path: "/admin/v1/functions/good"})

	res := runCLI(t, "deploy", "--server", url, "good.yaml", "bad.yaml", "missing.yaml")
	wantOutput(t, res, exitError, "",
		"edgefn: bad.yaml:1: name:", "edgefn: bad.yaml:3: timeout:", "edgefn: missing.yaml: no such file")
	if n := calls(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

func TestDeployConflictsAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	inDir(t, dir)
	writeFile(t, "a.yaml", "name: twin\nhandler: ./a\n")
	writeFile(t, "b.yaml", "name: twin\nhandler: ./b\n")
	url, calls := fakeAdmin(t, adminCall{method: http.MethodPut, path: "/admin/v1/functions/twin"})
	res := runCLI(t, "deploy", "--server", url, "a.yaml", "b.yaml")
	wantOutput(t, res, exitError, "", "edgefn: b.yaml:1: name:")
	if n := calls(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

func TestDeployMissingBinary(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f.yaml"), "name: ghost\nhandler: ./ghost\n")
	url, calls := fakeAdmin(t, adminCall{method: http.MethodPut, path: "/admin/v1/functions/ghost"})
	res := runCLI(t, "deploy", "--server", url, filepath.Join(dir, "f.yaml"))
	wantOutput(t, res, exitError, "", "edgefn: deploy ghost: plugin binary: stat ")
	if n := calls(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

func TestDeployServerError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f.yaml"), "name: hello\nhandler: ./hello\n")
	writeFile(t, filepath.Join(dir, "hello"), "binary")
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodPut, path: "/admin/v1/functions/hello",
		answer: answerJSON(http.StatusConflict, `{"error":{"code":"conflict","message":"route GET /hello is taken by other"}}`),
	})
	res := runCLI(t, "deploy", "--server", url, filepath.Join(dir, "f.yaml"))
	wantOutput(t, res, exitError, "", "edgefn: deploy hello: route GET /hello is taken by other\n")
}

func TestDeployBuilds(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool on PATH")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "fn/go.mod"), "module example.com/fn\n\ngo 1.24\n")
	writeFile(t, filepath.Join(dir, "fn/main.go"), "package main\n\nfunc main() {}\n")
	writeFile(t, filepath.Join(dir, "f.yaml"), "name: built\nbuild: ./fn\n")
	var got received
	url := deployServer(t, "built", 1, false, &got)
	res := runCLI(t, "deploy", "--server", url, "--token", "tok", filepath.Join(dir, "f.yaml"))
	wantOutput(t, res, exitOK, "deployed built version 1\n", "building built from ")
	if got.binaryName != "built" || len(got.binary) == 0 {
		t.Errorf("binary part %q: %d bytes", got.binaryName, len(got.binary))
	}
}

// writeFile writes data to path, creating its folder.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
