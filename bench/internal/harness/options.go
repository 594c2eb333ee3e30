package harness

import (
	"errors"
	"flag"
	"strings"
	"time"
)

// Options are the flags every benchmark command has, set by Command.Flags.
type Options struct {
	// Write is the README whose section is replaced; empty writes nothing.
	Write string
	// Keep keeps the temporary folder (binaries, manifests, data dirs) for inspection.
	Keep bool
	// Prebuilt, when set, is a folder with the command's programs already built.
	Prebuilt string
	// Quiet is the busy share of the machine's CPU under which a measurement may start, and
	// QuietWait how long to wait for it before starting anyway.
	Quiet     float64
	QuietWait time.Duration
	// MaxOther is the share of the machine other processes may use during a run before it is
	// measured again, up to Attempts runs in all.
	MaxOther float64
	Attempts int
}

// The defaults of the shared flags but -attempts, which each command sets.
const (
	defaultQuiet     = 0.15
	defaultQuietWait = time.Minute
	defaultMaxOther  = 0.25
)

// Flags defines the shared flags on fs, parsed into o.
func (c Command) Flags(fs *flag.FlagSet, o *Options) {
	fs.StringVar(&o.Write, "write", "", "README whose "+c.Section+" section to rewrite (e.g. bench/README.md)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary folder")
	fs.StringVar(&o.Prebuilt, "prebuilt", "", "folder with "+c.programNames()+" already built (default: build them)")
	fs.Float64Var(&o.Quiet, "quiet", defaultQuiet, "start a measurement only once the machine's CPU is at most this busy (0 to 1)")
	fs.DurationVar(&o.QuietWait, "quiet-wait", defaultQuietWait, "longest wait for -quiet before measuring anyway")
	fs.Float64Var(&o.MaxOther, "max-other", defaultMaxOther, "measure a run again when other processes used more than this share of the machine (0 to 1)")
	fs.IntVar(&o.Attempts, "attempts", c.Attempts, "most runs of one measurement while others disturb it; the least disturbed is kept")
}

// programNames lists the programs' names for a sentence: "edgefn, hello and rawfiber".
func (c Command) programNames() string {
	names := make([]string, len(c.Programs))
	for i, p := range c.Programs {
		names[i] = p.Name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Check returns an error for each shared flag out of its range.
func (o Options) Check() error {
	var errs []error
	if o.Attempts < 1 {
		errs = append(errs, errors.New("-attempts must be positive"))
	}
	if o.Quiet < 0 || o.Quiet > 1 || o.MaxOther < 0 || o.MaxOther > 1 {
		errs = append(errs, errors.New("-quiet and -max-other are shares of the machine, from 0 to 1"))
	}
	if o.QuietWait < 0 {
		errs = append(errs, errors.New("-quiet-wait must not be negative"))
	}
	return errors.Join(errs...)
}
