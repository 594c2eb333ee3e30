package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// checkoutDir makes an empty folder inside this checkout, under e2e/testdata (which `go build
// ./...` and `go vet ./...` skip), and removes it at the end: a scaffold there resolves
// github.com/edgefn/edgefn through the checkout's own go.mod, as in the README tour.
func checkoutDir(t testing.TB) string {
	t.Helper()
	parent := filepath.Join(bins.repoDir, "e2e", "testdata")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(parent, "scaffold-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Remove(parent) // only when empty: nothing of the checkout's is removed
	})
	return dir
}

// edgefnIn runs the edgefn CLI in the folder dir and fails the test unless it succeeds.
func edgefnIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bins.edgefn, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("edgefn %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// goTest runs the scaffold's own test in dir, as its user would.
func goTest(t testing.TB, dir string) {
	t.Helper()
	cmd := exec.Command("go", "test", "-count=1", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test in %s: %v\n%s", dir, err, out)
	}
}

// TestNewScaffoldTestsDeploysAndAnswers is the README tour: `edgefn new greet` in a project
// with a functions folder, the scaffold's own test, `edgefn deploy` of its manifest as it
// is, and a call of its route.
func TestNewScaffoldTestsDeploysAndAnswers(t *testing.T) {
	project := checkoutDir(t)
	if err := os.Mkdir(filepath.Join(project, "functions"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := edgefnIn(t, project, "new", "greet")
	fnDir := filepath.Join(project, "functions", "greet")
	for _, f := range []string{"main.go", "main_test.go", "greet.yaml"} {
		if !strings.Contains(out, "created "+filepath.Join("functions", "greet", f)) {
			t.Errorf("edgefn new did not report %s:\n%s", f, out)
		}
	}
	if strings.Contains(out, "note:") {
		t.Errorf("edgefn new inside the checkout asks for a module:\n%s", out)
	}
	goTest(t, fnDir)

	g := startGateway(t, "")
	out = mustCLI(t, g, "deploy", filepath.Join(fnDir, "greet.yaml"))
	if !strings.Contains(out, "deployed greet version 1") {
		t.Fatalf("deploy said %q", out)
	}
	for target, want := range map[string]string{
		"/greet?name=ada": `{"message":"hello, ada"}`,
		"/greet":          `{"message":"hello, world"}`,
	} {
		if r := do(t, "GET", g.URL+target, nil); r.Status != 200 || string(r.Body) != want {
			t.Errorf("GET %s = %d %s, want 200 %s", target, r.Status, r.Body, want)
		}
	}
	if r := do(t, "POST", g.URL+"/greet", nil); r.Status != 405 {
		t.Errorf("POST /greet = %d %s, want 405 (the scaffold binds GET)", r.Status, r.Body)
	}

	// The same name again is refused, and nothing is overwritten.
	cmd := exec.Command(bins.edgefn, "new", "greet")
	cmd.Dir = project
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "already exists") {
		t.Errorf("a second edgefn new greet: %v\n%s", err, out)
	}
}
