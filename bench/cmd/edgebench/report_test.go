package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRewriteResults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	before := "# bench\n\nintro\n\n" + startMarker + "\nold table\n" + endMarker + "\n\n## after\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewriteResults(path, "new table\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "# bench\n\nintro\n\n" + startMarker + "\nnew table\n\n" + endMarker + "\n\n## after\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	if err := os.WriteFile(path, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewriteResults(path, "x"); err == nil || !strings.Contains(err.Error(), startMarker) {
		t.Errorf("file without markers: err = %v, want one naming the markers", err)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 101585.03: "101,585", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}
