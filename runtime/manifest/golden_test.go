package manifest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update if the change is intended)\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	return files
}

// TestGoodGolden parses every testdata/good manifest and compares a stable
// rendering of the Set with its golden file.
func TestGoodGolden(t *testing.T) {
	base, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range yamlFiles(t, "testdata/good") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			set, err := Parse(file, data)
			if err != nil {
				t.Fatalf("Parse:\n%v", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", render(set, base))
		})
	}
}

// TestBadGolden parses every testdata/bad manifest and compares the error
// text with its golden file.
func TestBadGolden(t *testing.T) {
	for _, file := range yamlFiles(t, "testdata/bad") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			set, err := Parse(file, data)
			if err == nil || set != nil {
				t.Fatalf("Parse = %v, %v; want nil and errors", set, err)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want an ErrorList", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", err.Error()+"\n")
		})
	}
}

// TestBadDirGolden loads a folder whose files are each valid alone but
// clash with each other, plus one invalid file.
func TestBadDirGolden(t *testing.T) {
	set, err := LoadPaths("testdata/bad-dir")
	if err == nil || set != nil {
		t.Fatalf("LoadPaths = %v, %v; want nil and errors", set, err)
	}
	checkGolden(t, "testdata/bad-dir.golden", err.Error()+"\n")
}

// render prints a Set in a stable text form, with paths relative to base.
func render(set *Set, base string) string {
	var b strings.Builder
	rel := func(p string) string {
		if p == "" {
			return `""`
		}
		if r, err := filepath.Rel(base, p); err == nil && !strings.HasPrefix(r, "..") {
			return "<testdata>/" + filepath.ToSlash(r)
		}
		return filepath.ToSlash(p)
	}
	for _, fn := range set.Functions {
		fmt.Fprintf(&b, "function %s (%s:%d)\n", fn.Name, filepath.ToSlash(fn.File), fn.Line)
		fmt.Fprintf(&b, "  handler: %s\n  build: %s\n  sha256: %q\n", rel(fn.Handler), rel(fn.Build), fn.SHA256)
		fmt.Fprintf(&b, "  timeout: %s\n  concurrency: %d\n", fn.Timeout, fn.Concurrency)
		if sc := fn.Scale; sc.Fixed() {
			fmt.Fprintf(&b, "  instances: %d\n", sc.Min)
		} else {
			fmt.Fprintf(&b, "  scale: min %d, max %d, target %d, idle %s, stabilization %s\n",
				sc.Min, sc.Max, sc.Target, sc.Idle, sc.Stabilization)
		}
		keys := make([]string, 0, len(fn.Env))
		for k := range fn.Env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  env %s=%q\n", k, fn.Env[k])
		}
		fmt.Fprintf(&b, "  breaker: failures=%d cooldown=%s\n", fn.Breaker.Failures, fn.Breaker.Cooldown)
		fmt.Fprintf(&b, "  source: %d lines\n", strings.Count(string(fn.Source), "\n"))
		for i, t := range fn.Triggers {
			fmt.Fprintf(&b, "  trigger %d: %s\n", i, renderTrigger(t))
		}
	}
	for _, r := range set.Topics {
		fmt.Fprintf(&b, "topics %s (%s:%d) subscribe=%q publish=%q\n",
			r.Match, filepath.ToSlash(r.File), r.Line, r.Subscribe, r.Publish)
	}
	return b.String()
}

func renderTrigger(t Trigger) string {
	switch {
	case t.HTTP != nil:
		h := t.HTTP
		return fmt.Sprintf("http %s %s auth=%s async=%s", h.Method, h.Path, h.Auth, h.Async)
	case t.Queue != nil:
		q := t.Queue
		return fmt.Sprintf("queue %s prefetch=%d retries=%d backoff=%s deadLetter=%s maxPriority=%d filter=%q",
			q.Name, q.Prefetch, q.Retries, q.Backoff, q.DeadLetter, q.MaxPriority, q.Filter)
	case t.Stream != nil:
		s := t.Stream
		return fmt.Sprintf("stream %s group=%s from=%s retries=%d backoff=%s deadLetter=%s filter=%q",
			s.Name, s.Group, s.From, s.Retries, s.Backoff, s.DeadLetter, s.Filter)
	case t.WebSocket != nil:
		return t.WebSocket.String()
	case t.Schedule != nil:
		s := t.Schedule
		return fmt.Sprintf("schedule %q timezone=%s data=%s overlap=%t retries=%d backoff=%s catchUp=%d",
			s.Cron, s.Timezone, s.Data, s.Overlap, s.Retries, s.Backoff, s.CatchUp)
	}
	return "none"
}
