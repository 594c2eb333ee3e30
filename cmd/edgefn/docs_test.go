package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// docFlag is one row of a flags table of docs/cli.md.
type docFlag struct {
	names []string // such as "--output" and "-o"
	def   string   // the default column
	line  int
}

var (
	flagsMarkerRE = regexp.MustCompile(`^<!-- test: flags (edgefn[a-z ]*?) -->$`)
	codeSpanRE    = regexp.MustCompile("^`([^`]*)`$")
	flagNameRE    = regexp.MustCompile("`(--?[a-z][a-z-]*)`")
)

// cliDocs reads the flags tables of docs/cli.md: for each command path (such as
// "edgefn serve") the rows of the table after its marker, and the page's text.
func cliDocs(t *testing.T) (map[string][]docFlag, string) {
	t.Helper()
	data, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string][]docFlag{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		m := flagsMarkerRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if _, dup := tables[m[1]]; dup {
			t.Errorf("cli.md:%d: second flags table for %s", i+1, m[1])
		}
		rows := []docFlag{}
		for i++; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			cells := strings.Split(strings.Trim(lines[i], "|"), "|")
			names := flagNameRE.FindAllStringSubmatch(cells[0], -1)
			if len(cells) < 3 || len(names) == 0 {
				continue // the header and its separator
			}
			row := docFlag{def: strings.TrimSpace(cells[1]), line: i + 1}
			for _, n := range names {
				row.names = append(row.names, n[1])
			}
			rows = append(rows, row)
		}
		tables[m[1]] = rows
	}
	return tables, string(data)
}

// TestCLIDocs checks docs/cli.md against the command tree: every command has a section whose
// heading shows its usage and a flags table (which may say it has none), every flag of a
// command is in its table with its shorthand and its default, and every flag in a table
// exists.
func TestCLIDocs(t *testing.T) {
	tables, page := cliDocs(t)
	root := newRootCmd(func(string) (string, bool) { return "", false })
	var cmds []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		cmds = append(cmds, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	seen := map[string]bool{}
	for _, c := range cmds {
		path := c.CommandPath()
		seen[path] = true
		if c != root && !strings.Contains(page, "### `edgefn "+c.Use+"`") {
			t.Errorf("cli.md has no heading ### `edgefn %s`", c.Use)
		}
		rows, ok := tables[path]
		if !ok {
			t.Errorf("cli.md has no flags table (<!-- test: flags %s -->)", path)
			continue
		}
		flags := c.LocalNonPersistentFlags()
		if c == root {
			flags = c.PersistentFlags()
		}
		documented := map[string]bool{}
		for _, r := range rows {
			checkDocFlag(t, path, flags, r)
			for _, n := range r.names {
				documented[n] = true
			}
		}
		flags.VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !documented["--"+f.Name] {
				t.Errorf("cli.md: %s --%s is not documented", path, f.Name)
			}
		})
	}
	for path := range tables {
		if !seen[path] {
			t.Errorf("cli.md documents %q, which is not a command", path)
		}
	}
}

// checkDocFlag compares one documented row with the flag it names.
func checkDocFlag(t *testing.T, path string, flags *pflag.FlagSet, r docFlag) {
	t.Helper()
	var f *pflag.Flag
	var short []string
	for _, n := range r.names {
		if name, ok := strings.CutPrefix(n, "--"); ok {
			f = flags.Lookup(name)
		} else {
			short = append(short, strings.TrimPrefix(n, "-"))
		}
	}
	if f == nil {
		t.Errorf("cli.md:%d: %s has no flag %v", r.line, path, r.names)
		return
	}
	if want := slices.DeleteFunc([]string{f.Shorthand}, func(s string) bool { return s == "" }); !slices.Equal(short, want) {
		t.Errorf("cli.md:%d: %s --%s: shorthand documented %v, the command has %v", r.line, path, f.Name, short, want)
	}
	m := codeSpanRE.FindStringSubmatch(r.def)
	if m == nil {
		// Prose stands for "no value" (none, or a default computed where the command runs,
		// such as the node id); any other default must be shown as it is.
		if zero := f.DefValue == "" || f.DefValue == "[]"; !zero {
			t.Errorf("cli.md:%d: %s --%s: default documented as %q, the command's is %q", r.line, path, f.Name, r.def, f.DefValue)
		}
		return
	}
	doc := m[1]
	if f.Value.Type() == "duration" {
		got, err1 := time.ParseDuration(f.DefValue)
		want, err2 := time.ParseDuration(doc)
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("cli.md:%d: %s --%s: default documented as %s, the command's is %s", r.line, path, f.Name, doc, f.DefValue)
		}
		return
	}
	if doc != f.DefValue {
		t.Errorf("cli.md:%d: %s --%s: default documented as %q, the command's is %q", r.line, path, f.Name, doc, f.DefValue)
	}
}
