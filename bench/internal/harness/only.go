package harness

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
)

// Only is the -only flag of a command whose metrics come in groups: the groups a run
// measures, all of them unless -only names some.
type Only struct {
	// Groups are the command's groups, in the order its help lists them.
	Groups []string
	// List is -only as given, groups separated by commas; empty means every group.
	List string
}

// Flag defines -only on fs, parsed into o.List.
func (o *Only) Flag(fs *flag.FlagSet) {
	fs.StringVar(&o.List, "only", "", "comma-separated metric groups to run: "+strings.Join(o.Groups, ", ")+" (default all)")
}

// Runs reports whether a run measures group.
func (o Only) Runs(group string) bool {
	return o.List == "" || slices.Contains(strings.Split(o.List, ","), group)
}

// Check returns an error for each group -only names that the command does not have.
func (o Only) Check() error {
	if o.List == "" {
		return nil
	}
	var errs []error
	for _, g := range strings.Split(o.List, ",") {
		if !slices.Contains(o.Groups, g) {
			errs = append(errs, fmt.Errorf("-only: unknown group %q (want %s)", g, strings.Join(o.Groups, ", ")))
		}
	}
	return errors.Join(errs...)
}
