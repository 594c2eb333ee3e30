package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// devProcess is one running `edgefn dev`.
type devProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *testkit.SyncBuffer
	done           chan struct{}
	exitErr        error
}

// startDev runs `edgefn dev manifest` against g; it is interrupted at the end of the test.
func startDev(t *testing.T, g *gateway, manifest string) *devProcess {
	t.Helper()
	d := &devProcess{stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bins.edgefn, "dev", manifest, "--server", g.URL, "--data-dir", g.DataDir)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exitErr = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("edgefn dev stdout:\n%s\nstderr:\n%s", d.stdout, d.stderr)
		}
	})
	return d
}

// answers polls GET url until its body is want, for at most d.
func answers(t *testing.T, url, want string, d time.Duration) {
	t.Helper()
	var last string
	deadline := time.Now().Add(d)
	for {
		r, err := tryDo("GET", url, nil)
		if err == nil && r.Status == 200 && string(r.Body) == want {
			return
		}
		if err == nil {
			last = fmt.Sprintf("%d %s", r.Status, r.Body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s to answer %s; last answer: %s", d, url, want, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// edit replaces old with new in the file at path, failing when old is not there.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(src), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDevRebuildsOnSaveAndSurvivesABrokenBuild runs the gateway and `edgefn dev` on a fresh
// scaffold: an edit of the handler goes live, a build error is printed while the old
// version keeps answering, the fix goes live, and SIGINT ends dev cleanly.
func TestDevRebuildsOnSaveAndSurvivesABrokenBuild(t *testing.T) {
	fnDir := filepath.Join(checkoutDir(t), "live")
	edgefnIn(t, bins.repoDir, "new", "live", "--dir", fnDir)
	main := filepath.Join(fnDir, "main.go")
	g := startGateway(t, "")
	d := startDev(t, g, filepath.Join(fnDir, "live.yaml"))
	url := g.URL + "/live?name=ada"
	answers(t, url, `{"message":"hello, ada"}`, 2*time.Minute)

	edit(t, main, `"hello, "`, `"howdy, "`)
	answers(t, url, `{"message":"howdy, ada"}`, time.Minute)
	testkit.Eventually(t, 10*time.Second, "the deploy line", func() bool {
		return strings.Contains(d.stdout.String(), "live: deployed version 2 in ")
	})

	edit(t, main, `return fn.JSON(200`, `return fn.JSON(200 undefinedThing`)
	testkit.Eventually(t, time.Minute, "the build error", func() bool {
		return strings.Contains(d.stderr.String(), "live: build failed") && strings.Contains(d.stderr.String(), "main.go:")
	})
	if r := do(t, "GET", url, nil); r.Status != 200 || string(r.Body) != `{"message":"howdy, ada"}` {
		t.Errorf("after a broken build: %d %s, want the old version's answer", r.Status, r.Body)
	}

	edit(t, main, `return fn.JSON(200 undefinedThing`, `return fn.JSON(200`)
	edit(t, main, `"howdy, "`, `"hi, "`)
	answers(t, url, `{"message":"hi, ada"}`, time.Minute)

	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
		if d.exitErr != nil {
			t.Errorf("edgefn dev after SIGINT: %v, want exit 0", d.exitErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("edgefn dev did not stop on SIGINT")
	}
	// The function stays deployed after dev stops.
	if r := do(t, "GET", url, nil); r.Status != 200 || string(r.Body) != `{"message":"hi, ada"}` {
		t.Errorf("after dev stopped: %d %s", r.Status, r.Body)
	}
}
