package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The first start generates the token into a 0600 file; later starts read the same one.
func TestLocalAdminToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	token, path, created, err := localAdminToken(dir)
	if err != nil || !created || len(token) != 64 || path != filepath.Join(dir, "admin-token") {
		t.Fatalf("first start: %q %q created=%v %v", token, path, created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v, want mode 0600", st.Mode(), err)
	}
	again, _, created, err := localAdminToken(dir)
	if err != nil || created || again != token {
		t.Fatalf("second start: %q created=%v %v, want the same token read", again, created, err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Fatalf("%d files in the data dir, want the token file only", len(left))
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := localAdminToken(dir); err == nil || !strings.Contains(err.Error(), "mode 0644 lets others read it") {
		t.Fatalf("a world-readable token file: %v", err)
	}
}

func TestFileSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &serveOptions{adminTokenFile: file, jwtSecretFile: file}
	if err := fileSecrets(o); err != nil || o.adminToken != "s3cret" || o.jwtSecret != "s3cret" {
		t.Fatalf("fileSecrets: %+v %v", o, err)
	}
	o = &serveOptions{adminToken: "x", adminTokenFile: file}
	if err := fileSecrets(o); err == nil || err.Error() != "give --admin-token or --admin-token-file, not both" {
		t.Fatalf("both given: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if err := fileSecrets(&serveOptions{jwtSecretFile: empty}); err == nil || !strings.Contains(err.Error(), "--jwt-secret-file "+empty+": the file is empty") {
		t.Fatalf("empty file: %v", err)
	}
	if err := fileSecrets(&serveOptions{adminTokenFile: filepath.Join(dir, "none")}); err == nil || !strings.HasPrefix(err.Error(), "--admin-token-file: open ") {
		t.Fatalf("missing file: %v", err)
	}
}

// The client sends the local token to a server on this machine only.
func TestLocalToken(t *testing.T) {
	dir := t.TempDir()
	token, _, _, err := localAdminToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	for base, want := range map[string]string{
		"http://127.0.0.1:8080":   token,
		"http://localhost:8080":   token,
		"http://[::1]:8080":       token,
		"https://edge.example":    "",
		"http://192.0.2.1:8080":   "",
		"http://localhost.evil:1": "",
	} {
		if got, err := localToken(base, dir); err != nil || got != want {
			t.Errorf("localToken(%s) = %q, %v; want %q", base, got, err, want)
		}
	}
	if got, err := localToken("http://127.0.0.1:8080", filepath.Join(dir, "none")); err != nil || got != "" {
		t.Errorf("no token file: %q, %v; want none", got, err)
	}
}
