package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	start = "<!-- x:start -->"
	end   = "<!-- x:end -->"
)

func TestRewriteSection(t *testing.T) {
	section := start + "\nNEW\n" + end
	tests := []struct {
		name, before, after string
	}{
		{"appended when missing", "# bench\n\ntext\n", "# bench\n\ntext\n\n" + section + "\n"},
		{"appended after a last line without newline", "text", "text\n\n" + section + "\n"},
		{"replaced in place", "a\n" + start + "\nOLD\n" + end + "\nb\n", "a\n" + section + "\nb\n"},
		{"other sections untouched", "<!-- results:start -->\nR\n<!-- results:end -->\n" + start + "\n" + end + "\n",
			"<!-- results:start -->\nR\n<!-- results:end -->\n" + section + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "README.md")
			if err := os.WriteFile(path, []byte(tt.before), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := RewriteSection(path, start, end, "NEW"); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.after {
				t.Errorf("got\n%q\nwant\n%q", got, tt.after)
			}
		})
	}
}

func TestRewriteSectionRefusesMarkersOutOfOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	before := end + "\n" + start + "\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	err := RewriteSection(path, start, end, "NEW")
	if err == nil || !strings.Contains(err.Error(), "not a pair") {
		t.Fatalf("err = %v, want markers not a pair", err)
	}
	if got, _ := os.ReadFile(path); string(got) != before {
		t.Errorf("file changed to %q", got)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 52318.4: "52,318", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := Thousands(in); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestQuietNote(t *testing.T) {
	waits := []QuietWait{{Waited: 2 * time.Second, Busy: 0.05}, {Waited: 60 * time.Second, Busy: 0.40}}
	got := QuietNote(waits, "the machine", 0.15, time.Minute)
	want := "Each measurement waited for the machine to be at most 15% busy for a second (1m2s of waiting in all); 1 of 2 started busier after waiting 1m0s.\n\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
