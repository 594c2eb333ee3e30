package main

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/fsnotify/fsnotify"
)

// uploads fakes PUT /admin/v1/functions/{name} and keeps every manifest it receives.
type uploads struct {
	mu        sync.Mutex
	manifests []string
	// names are the functions uploaded, in order, and binaries their binaries' sizes.
	names    []string
	binaries []int
}

// devRun is `edgefn dev` running against a test server that records the uploads.
type devRun struct {
	up             *uploads
	stdout, stderr testkit.SyncBuffer
	cancel         context.CancelFunc
	done           chan int
	code           int
	stopped        bool
}

// startDev runs `edgefn dev MANIFEST` until the test ends or stop; it logs dev's output when
// the test failed.
func startDev(t *testing.T, manifest string) *devRun {
	t.Helper()
	d := &devRun{up: &uploads{}, done: make(chan int, 1)}
	url := d.up.serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		d.done <- cli{ctx: ctx}.runTo(&d.stdout, &d.stderr, "dev", manifest, "--server", url, "--debounce", "20ms")
	}()
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", d.stdout.String(), d.stderr.String())
		}
	})
	return d
}

// stop cancels dev and returns its exit code; it fails the test if dev does not stop.
func (d *devRun) stop(t *testing.T) int {
	t.Helper()
	if !d.stopped {
		d.cancel()
		select {
		case d.code = <-d.done:
		case <-time.After(10 * time.Second):
			t.Fatal("dev did not stop on cancel")
		}
		d.stopped = true
	}
	return d.code
}

func (u *uploads) serve(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if r.Method != http.MethodPut || err != nil {
			t.Errorf("%s %s %q: want a multipart PUT", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		var got string
		size := 0
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			data, _ := io.ReadAll(p)
			switch p.FormName() {
			case "manifest":
				got = string(data)
			case "binary":
				size = len(data)
			}
		}
		u.mu.Lock()
		u.manifests = append(u.manifests, got)
		u.names = append(u.names, strings.TrimPrefix(r.URL.Path, "/admin/v1/functions/"))
		u.binaries = append(u.binaries, size)
		n := len(u.manifests)
		u.mu.Unlock()
		answerJSON(http.StatusOK, fmt.Sprintf(`{"name":"dev","version":%d}`, n))(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (u *uploads) list() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.manifests...)
}

// TestDevRedeploysOnManifestSave runs dev in-process on a handler: manifest (no build) against
// a fake admin API: the start deploys, a save redeploys with the new manifest, an invalid
// save is reported and deploys nothing, and cancelling (SIGINT) ends it with exit 0.
func TestDevRedeploysOnManifestSave(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "plugin")
	if err := os.WriteFile(binary, []byte("not really a plugin"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dev.yaml")
	manifestText := func(v string) string {
		return "name: dev\nhandler: plugin\nenv: {V: \"" + v + "\"}\ntriggers:\n  - http: {path: /dev}\n"
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(manifestText("1"))
	dev := startDev(t, path)
	up, stdout, stderr := dev.up, &dev.stdout, &dev.stderr
	testkit.Eventually(t, 20*time.Second, "the first deploy", func() bool { return strings.Contains(stdout.String(), "watching") })
	if got := up.list(); len(got) != 1 || got[0] != manifestText("1") {
		t.Fatalf("uploads at start: %q", got)
	}
	write(manifestText("2"))
	testkit.Eventually(t, 20*time.Second, "the redeploy", func() bool { return len(up.list()) == 2 })
	if got := up.list()[1]; got != manifestText("2") {
		t.Errorf("redeployed manifest %q, want the saved one", got)
	}
	testkit.Eventually(t, 20*time.Second, "the deploy line", func() bool { return strings.Contains(stdout.String(), "dev: deployed version 2 in ") })
	write("name: dev\nhandler: plugin\nbogus: 1\n")
	testkit.Eventually(t, 20*time.Second, "the manifest error", func() bool { return strings.Contains(stderr.String(), `unknown field "bogus"`) })
	write(manifestText("3"))
	testkit.Eventually(t, 20*time.Second, "the redeploy after the fix", func() bool { return len(up.list()) == 3 })
	if code := dev.stop(t); code != exitOK {
		t.Errorf("exit %d after cancel, want 0; stderr %s", code, stderr.String())
	}
	if n := len(up.list()); n != 3 {
		t.Errorf("%d uploads, want 3 (the invalid manifest deploys nothing)", n)
	}
}

func TestDevRefusesAnInvalidManifestAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("name: Bad\nbuild: .\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, "dev", path)
	wantOutput(t, res, exitError, "", "name: must match")
	wantOutput(t, runCLI(t, "dev"), exitUsage, "", "expects MANIFEST")
	wantOutput(t, runCLI(t, "dev", path, "--debounce", "-1s"), exitUsage, "", "--debounce must not be negative")
}

func TestDevRelevantEvents(t *testing.T) {
	src := t.TempDir()
	s := &devSession{manifest: filepath.Join(src, "fn.yaml"), builds: map[string]*devBuild{src: {}}}
	cases := []struct {
		name string
		op   fsnotify.Op
		want bool
	}{
		{"fn.yaml", fsnotify.Write, true},
		{"main.go", fsnotify.Write, true},
		{"main.go", fsnotify.Rename, true},
		{"main.go", fsnotify.Chmod, false},
		{"main_test.go", fsnotify.Write, false},
		{".main.go.swp", fsnotify.Write, false},
		{"main.go~", fsnotify.Create, false},
		{"4913", fsnotify.Create, false},
		{"go.mod", fsnotify.Write, true},
	}
	for _, c := range cases {
		ev := fsnotify.Event{Name: filepath.Join(src, c.name), Op: c.op}
		if got := s.relevant(ev); got != c.want {
			t.Errorf("%s %s: relevant %t, want %t", c.op, c.name, got, c.want)
		}
	}
	if s.relevant(fsnotify.Event{Name: filepath.Join(filepath.Dir(src), "elsewhere.go"), Op: fsnotify.Write}) {
		t.Error("a file outside the sources is relevant")
	}
}

// TestDevBuildsASharedFolderOnceAndRetriesABrokenOne runs dev in-process on a manifest of two
// functions built from one folder (a module of its own, so `go build` needs nothing else):
// each cycle builds the folder once and deploys both; a broken build deploys nothing, and
// while the sources stay broken a manifest-only save builds again instead of deploying the
// last good binary.
func TestDevBuildsASharedFolderOnceAndRetriesABrokenOne(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/devtest\n\ngo 1.24\n")
	write("main.go", "package main\n\nfunc main() {}\n")
	manifestText := func(timeout string) string {
		return "name: one\nbuild: .\ntimeout: " + timeout + "\ntriggers:\n  - http: {path: /one}\n---\n" +
			"name: two\nbuild: .\ntriggers:\n  - http: {path: /two}\n"
	}
	write("fns.yaml", manifestText("5s"))
	dev := startDev(t, filepath.Join(dir, "fns.yaml"))
	up, stdout, stderr := dev.up, &dev.stdout, &dev.stderr
	testkit.Eventually(t, 20*time.Second, "the first deploys", func() bool { return strings.Contains(stdout.String(), "watching") })
	if got := up.list(); len(got) != 2 {
		t.Fatalf("%d uploads at start, want one per function", len(got))
	}
	if n := strings.Count(stdout.String(), "(build "); n != 1 {
		t.Errorf("%d builds for two functions of one folder, want 1:\n%s", n, stdout.String())
	}
	if up.binaries[0] == 0 || up.binaries[0] != up.binaries[1] {
		t.Errorf("binaries of %v bytes, want the same build twice", up.binaries)
	}

	write("main.go", "package main\n\nfunc main() { undefinedThing() }\n")
	testkit.Eventually(t, 20*time.Second, "the build error", func() bool { return strings.Contains(stderr.String(), "undefined: undefinedThing") })
	write("fns.yaml", manifestText("6s"))
	testkit.Eventually(t, 20*time.Second, "the second build error", func() bool { return strings.Count(stderr.String(), "undefined: undefinedThing") >= 3 })
	if n := len(up.list()); n != 2 {
		t.Errorf("%d uploads while the sources are broken, want none after the first 2", n)
	}

	write("main.go", "package main\n\nfunc main() { println() }\n")
	testkit.Eventually(t, 20*time.Second, "the deploys after the fix", func() bool { return len(up.list()) == 4 })
	if got := up.list()[2]; !strings.Contains(got, "timeout: 6s") {
		t.Errorf("deployed manifest %q, want the saved one", got)
	}
}
