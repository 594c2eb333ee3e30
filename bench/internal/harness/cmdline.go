package harness

import (
	"flag"
	"fmt"
)

// CommandLine spells out, for the report, how a command was run: `go run ./bench/cmd/NAME`
// and each flag of fs whose value differs from its default, in fs's (alphabetical) order.
// -keep, which changes no figure, is left out.
func (c Command) CommandLine(fs *flag.FlagSet) string {
	line := "go run ./bench/cmd/" + c.Name
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "keep" && f.Value.String() != f.DefValue {
			line += fmt.Sprintf(" -%s %v", f.Name, f.Value)
		}
	})
	return line
}
