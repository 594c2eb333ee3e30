// Package docs_test checks the examples of the reference in docs/ against the code: every
// manifest shown as valid loads, every manifest shown as invalid gives exactly the errors
// shown, the SDK example is the example function that builds and passes its test, and every
// link between pages leads somewhere. The CLI flags are checked in cmd/edgefn (docs_test.go)
// and the protocol exchanges in e2e (docs_test.go).
package docs_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/internal/doctest"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// pageMarkers returns the test markers of a page, whatever follows them (a code block, or a
// table for the flags of cli.md). A line that starts like a marker but is not one is
// reported, so that a typo cannot leave an example unchecked.
func pageMarkers(t *testing.T, page string) []string {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "<!-- test") {
			continue
		}
		m := doctest.MarkerRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s:%d: malformed test marker %q", page, i+1, line)
			continue
		}
		out = append(out, m[1])
	}
	return out
}

// pages returns the markdown pages of docs/.
func pages(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no pages: %v", err)
	}
	return files
}

// TestEveryPageHasATestedExample keeps the rule that each page shows at least one example a
// test runs or checks.
func TestEveryPageHasATestedExample(t *testing.T) {
	for _, p := range pages(t) {
		if p == "README.md" {
			continue // the index: its links are checked by TestLinks
		}
		if len(pageMarkers(t, p)) == 0 {
			t.Errorf("%s has no example marked <!-- test: ... -->", p)
		}
	}
}

// TestMarkersAreKnown catches a misspelt marker, which would leave its example unchecked.
func TestMarkersAreKnown(t *testing.T) {
	known := map[string]bool{
		"manifest": true, "manifest-error": true, "sdk-example": true, "invocation-errors": true,
		"flags": true,                              // checked by cmd/edgefn/docs_test.go
		"http":  true, "ws": true, "metrics": true, // run by e2e/docs_test.go
	}
	for _, p := range pages(t) {
		for _, m := range pageMarkers(t, p) {
			if kind, _, _ := strings.Cut(m, " "); !known[kind] {
				t.Errorf("%s: unknown test marker %q", p, m)
			}
		}
	}
}

// TestManifestExamples loads every manifest of the pages: those marked `manifest` must load,
// and those marked `manifest-error` must give exactly the errors of the text block that
// follows them. The file is named example.yaml in messages.
func TestManifestExamples(t *testing.T) {
	valid, invalid := 0, 0
	for _, p := range pages(t) {
		blocks := doctest.Blocks(t, p)
		for i, b := range blocks {
			switch b.Marker {
			case "manifest":
				valid++
				if _, err := manifest.Parse("example.yaml", []byte(b.Text)); err != nil {
					t.Errorf("%s:%d: the manifest shown as valid does not load:\n%v", p, b.Line, err)
				}
			case "manifest-error":
				invalid++
				if i+1 >= len(blocks) || blocks[i+1].Lang != "text" {
					t.Errorf("%s:%d: a manifest-error example must be followed by a ```text block of its errors", p, b.Line)
					continue
				}
				_, err := manifest.Parse("example.yaml", []byte(b.Text))
				var list manifest.ErrorList
				if !errors.As(err, &list) {
					t.Errorf("%s:%d: the manifest shown as invalid loads (err %v)", p, b.Line, err)
					continue
				}
				if got, want := list.Error()+"\n", blocks[i+1].Text; got != want {
					t.Errorf("%s:%d: the errors differ from the page\n--- got\n%s--- page\n%s", p, b.Line, got, want)
				}
			}
		}
	}
	if valid == 0 || invalid == 0 {
		t.Errorf("found %d valid and %d invalid manifest examples; want some of each", valid, invalid)
	}
}

// TestSDKExample checks that the function shown in sdk.md is, byte for byte, the file named
// by its marker: that file builds with the module and has its own test.
func TestSDKExample(t *testing.T) {
	found := 0
	for _, p := range pages(t) {
		for _, b := range doctest.Blocks(t, p) {
			file, ok := strings.CutPrefix(b.Marker, "sdk-example ")
			if !ok {
				continue
			}
			found++
			data, err := os.ReadFile(file)
			if err != nil {
				t.Errorf("%s:%d: %v", p, b.Line, err)
				continue
			}
			if string(data) != b.Text {
				t.Errorf("%s:%d: the code shown differs from %s; copy the file into the page", p, b.Line, file)
			}
		}
	}
	if found == 0 {
		t.Error("no sdk-example block found")
	}
}

// TestInvocationErrors checks the table of invocation errors in guarantees.md against the
// errors the runtime answers with.
func TestInvocationErrors(t *testing.T) {
	want := map[string]*runtime.Error{}
	for _, e := range []*runtime.Error{runtime.ErrNotFound, runtime.ErrNotReady, runtime.ErrCrashed,
		runtime.ErrTimeout, runtime.ErrOverloaded, runtime.ErrCircuitOpen, runtime.ErrStopping} {
		want[e.Code] = e
	}
	rowRE := regexp.MustCompile("^\\| `([a-z_]+)` \\| (\\d{3}) \\| (yes|no) \\|")
	seen := map[string]bool{}
	for _, b := range doctest.Blocks(t, "guarantees.md") {
		if b.Marker != "invocation-errors" {
			continue
		}
		for _, line := range strings.Split(b.Text, "\n") {
			m := rowRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			e, ok := want[m[1]]
			if !ok {
				t.Errorf("guarantees.md: error code %q is not one the runtime answers with", m[1])
				continue
			}
			seen[m[1]] = true
			if m[2] != strconv.Itoa(e.Status) {
				t.Errorf("guarantees.md: %s is documented as %s, the runtime answers %d", m[1], m[2], e.Status)
			}
			if retry := e.RetryAfter > 0; (m[3] == "yes") != retry {
				t.Errorf("guarantees.md: %s Retry-After documented %s, the runtime sets it: %v", m[1], m[3], retry)
			}
		}
	}
	for code := range want {
		if !seen[code] {
			t.Errorf("guarantees.md does not document the invocation error %q", code)
		}
	}
}

var linkRE = regexp.MustCompile(`\]\(([^)#\s]*)(#[^)\s]*)?\)`)

// TestLinks checks that every relative link of the pages names a file that exists, and
// every #anchor one of the target page's headings.
func TestLinks(t *testing.T) {
	for _, p := range pages(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(data), -1) {
			target, anchor := m[1], strings.TrimPrefix(m[2], "#")
			if strings.Contains(target, "://") {
				continue
			}
			file := p
			if target != "" {
				file = filepath.Join(filepath.Dir(p), target)
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s: link to %s: %v", p, target, err)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(file, ".md") && !hasAnchor(t, file, anchor) {
				t.Errorf("%s: link to %s#%s: no such heading", p, target, anchor)
			}
		}
	}
}

// hasAnchor reports whether a heading of the page has the GitHub anchor.
func hasAnchor(t *testing.T, page, anchor string) bool {
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile("[^a-z0-9 _-]")
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		if strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-") == anchor {
			return true
		}
	}
	return false
}

// TestManifestMessagesCoverGoldens checks that the table of error messages in manifest.md
// has a row for every message the manifest package's golden files show, so that the table
// stays complete as messages are added. In the table, a quoted capital letter ("F") or
// "{P}" stands for any quoted value, FILE:LINE for a place, M /path for a route, FUNCTION
// for a name, /P for a reserved prefix and ... for any text.
func TestManifestMessagesCoverGoldens(t *testing.T) {
	data, err := os.ReadFile("manifest.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "The messages, by field:")
	if !ok {
		t.Fatal(`manifest.md has no "The messages, by field:" table`)
	}
	spanRE := regexp.MustCompile("`([^`]+)`")
	var patterns []*regexp.Regexp
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 4 {
			if len(patterns) > 0 {
				break // the end of the table
			}
			continue
		}
		for _, m := range spanRE.FindAllStringSubmatch(cells[2], -1) {
			patterns = append(patterns, messagePattern(m[1]))
		}
	}
	if len(patterns) == 0 {
		t.Fatal("manifest.md: the table of messages is empty")
	}
	goldens, err := filepath.Glob("../runtime/manifest/testdata/*/*.golden")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	more, _ := filepath.Glob("../runtime/manifest/testdata/*.golden")
	// FILE:LINE: then the message, with or without a field path before it.
	lineRE := regexp.MustCompile(`^[^:]+:\d+: ((?:[A-Za-z0-9_.\[\]]+: )?(.*))$`)
	for _, g := range append(goldens, more...) {
		text, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(text)), "\n") {
			m := lineRE.FindStringSubmatch(l)
			if m == nil {
				continue // the rendering of a valid set, not an error
			}
			if !slices.ContainsFunc(patterns, func(p *regexp.Regexp) bool { return p.MatchString(m[1]) || p.MatchString(m[2]) }) {
				t.Errorf("manifest.md: no row of the messages table matches %q (%s)", m[1], filepath.Base(g))
			}
		}
	}
}

// messagePattern turns a message of the table into a regexp.
func messagePattern(msg string) *regexp.Regexp {
	p := regexp.QuoteMeta(msg)
	for _, r := range [][2]string{
		{`FILE:LINE`, `.+:\d+`},
		{`M /path`, `\S+ \S+`},
		{`FUNCTION`, `\S+`},
		{`\.\.\.`, `.*`},
		{`"\{P\}"`, `"[^"]*"`},
		{`/P `, `/\S+ `},
	} {
		p = strings.ReplaceAll(p, r[0], r[1])
	}
	p = regexp.MustCompile(`"[A-Z]"`).ReplaceAllString(p, `"[^"]*"`)
	return regexp.MustCompile("^" + p + "$")
}
