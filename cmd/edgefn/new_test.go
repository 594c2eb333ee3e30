package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/runtime/manifest"
)

func TestNewWritesAValidScaffold(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "greet-v2")
	res := runCLI(t, "new", "greet-v2", "--dir", dir)
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, f := range []string{"main.go", "main_test.go", "greet-v2.yaml"} {
		if !strings.Contains(res.stdout, "created "+filepath.Join(dir, f)+"\n") {
			t.Errorf("stdout does not name %s:\n%s", f, res.stdout)
		}
	}
	// Outside any module the user is told what to add.
	if !strings.Contains(res.stderr, "not inside a Go module") {
		t.Errorf("stderr %q does not explain the missing module", res.stderr)
	}
	set, err := manifest.LoadPaths(filepath.Join(dir, "greet-v2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fn := set.Functions[0]
	if fn.Name != "greet-v2" || fn.Build != dir || fn.Handler != "" {
		t.Errorf("manifest: name %q build %q handler %q, want greet-v2 built from %s", fn.Name, fn.Build, fn.Handler, dir)
	}
	h := fn.Triggers[0].HTTP
	if h == nil || h.Method != "GET" || h.Path != "/greet-v2" {
		t.Errorf("trigger %+v, want http GET /greet-v2", fn.Triggers[0])
	}
	src, err := os.ReadFile(filepath.Join(dir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `"github.com/edgefn/edgefn/runtime/fn"`) {
		t.Errorf("main.go does not use runtime/fn:\n%s", src)
	}
}

func TestNewRefusesBadNamesAndExistingFolders(t *testing.T) {
	tmp := t.TempDir()
	existing := filepath.Join(tmp, "taken")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"new", "Greet", "--dir", filepath.Join(tmp, "a")}, exitError, `cannot scaffold "Greet": name: must match [a-z][a-z0-9-]{0,62}`},
		{[]string{"new", "9lives", "--dir", filepath.Join(tmp, "b")}, exitError, "name: must match"},
		{[]string{"new", "a/b", "--dir", filepath.Join(tmp, "c")}, exitError, "name: must match"},
		{[]string{"new", strings.Repeat("a", 64), "--dir", filepath.Join(tmp, "d")}, exitError, "name: must match"},
		{[]string{"new", "metrics", "--dir", filepath.Join(tmp, "e")}, exitError, "route prefix /metrics is reserved"},
		{[]string{"new", "ok", "--dir", existing}, exitError, existing + " already exists"},
		{[]string{"new"}, exitUsage, "expects NAME"},
	}
	for _, c := range cases {
		res := runCLI(t, c.args...)
		wantOutput(t, res, c.code, "", c.err)
	}
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		if _, err := os.Stat(filepath.Join(tmp, d)); err == nil {
			t.Errorf("a refused scaffold left %s behind", d)
		}
	}
}

func TestNewDefaultFolder(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	if got := defaultScaffoldDir("greet"); got != "greet" {
		t.Errorf("without functions/: %q, want greet", got)
	}
	if err := os.Mkdir("functions", 0o755); err != nil {
		t.Fatal(err)
	}
	if got := defaultScaffoldDir("greet"); got != filepath.Join("functions", "greet") {
		t.Errorf("with functions/: %q, want functions/greet", got)
	}
}

func TestNewModuleNote(t *testing.T) {
	tmp := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(tmp, "edgefn", "go.mod"), "module github.com/edgefn/edgefn\n\ngo 1.26\n")
	write(filepath.Join(tmp, "user", "go.mod"), "module example.com/user\n\nrequire github.com/edgefn/edgefn v0.1.0\n")
	write(filepath.Join(tmp, "other", "go.mod"), "module example.com/other\n\ngo 1.26\n")
	cases := []struct {
		dir, want string
	}{
		{filepath.Join(tmp, "edgefn", "functions", "x"), ""},
		{filepath.Join(tmp, "user", "x"), ""},
		{filepath.Join(tmp, "other", "x"), "does not require github.com/edgefn/edgefn"},
	}
	for _, c := range cases {
		got := moduleNote(c.dir)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("moduleNote(%s) = %q, want %q", c.dir, got, c.want)
		}
	}
}
