package harness

import "fmt"

// CommandLine spells out, for the report, how a command was run: `go run ./bench/cmd/NAME`
// and the flags that differ from their defaults, in the order they are added.
type CommandLine struct {
	line     string
	attempts int
}

// CommandLine starts the command's line.
func (c Command) CommandLine() *CommandLine {
	return &CommandLine{line: "go run ./bench/cmd/" + c.Name, attempts: c.Attempts}
}

// Add adds " -flag v" when differs is set.
func (l *CommandLine) Add(differs bool, flag string, v any) {
	if differs {
		l.line += fmt.Sprintf(" -%s %v", flag, v)
	}
}

// AddShared adds the shared flags of o that differ from their defaults: -quiet, -quiet-wait,
// -max-other, -attempts, -prebuilt and -write, in that order.
func (l *CommandLine) AddShared(o Options) {
	l.Add(o.Quiet != defaultQuiet, "quiet", o.Quiet)
	l.Add(o.QuietWait != defaultQuietWait, "quiet-wait", o.QuietWait)
	l.Add(o.MaxOther != defaultMaxOther, "max-other", o.MaxOther)
	l.Add(o.Attempts != l.attempts, "attempts", o.Attempts)
	l.Add(o.Prebuilt != "", "prebuilt", o.Prebuilt)
	l.Add(o.Write != "", "write", o.Write)
}

// String is the command line.
func (l *CommandLine) String() string { return l.line }
