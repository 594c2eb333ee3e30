// Package doctest reads the examples of the reference in docs/ for the tests that check them
// against the code (docs/, cmd/edgefn and e2e): a page's fenced code blocks, each with the
// test marker, an HTML comment `<!-- test: KIND -->`, on the line before it.
package doctest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Block is a fenced code block of a page.
type Block struct {
	Page   string
	Line   int    // of the opening fence
	Marker string // the KIND of the marker before it, "" when unmarked
	Lang   string // what follows the opening fence
	Text   string // the lines between the fences, each ending in a newline
}

// MarkerRE matches a test marker line and captures its KIND.
var MarkerRE = regexp.MustCompile(`^<!-- test: ([a-z0-9 ./-]+?) -->$`)

// Blocks returns the fenced code blocks of the markdown page, in order. A block that is not
// closed fails t.
func Blocks(t testing.TB, page string) []Block {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []Block
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		b := Block{Page: page, Line: i + 1, Lang: strings.TrimSpace(lang)}
		for j := i - 1; j >= 0; j-- {
			if strings.TrimSpace(lines[j]) == "" {
				continue
			}
			if m := MarkerRE.FindStringSubmatch(strings.TrimSpace(lines[j])); m != nil {
				b.Marker = m[1]
			}
			break
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: code block is not closed", page, b.Line)
		}
		b.Text = strings.Join(body, "\n") + "\n"
		out = append(out, b)
	}
	return out
}
