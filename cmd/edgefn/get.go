package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newGetCmd() *cobra.Command {
	return readCmd("get NAME", "Show one function, with its stats", exactArgs("NAME"),
		func(args []string) string { return functionPath(args[0]) },
		func(cmd *cobra.Command, f *functionInfo) error { return printFunction(cmd.OutOrStdout(), f) })
}

// printFunction writes f as `key: value` lines.
func printFunction(w io.Writer, f *functionInfo) error {
	deployed := "-"
	if !f.DeployedAt.IsZero() {
		deployed = f.DeployedAt.Format(time.RFC3339)
	}
	_, err := fmt.Fprintf(w, "name: %s\nversion: %d\nstate: %s\ninstances: %d/%d\ntriggers: %s\n"+
		"deployed: %s\ninvocations: %d\nfailures: %d\ninflight: %d\nrestarts: %d\nbreaker: %s\n",
		f.Name, f.Version, f.State, f.Ready, f.Instances, joinTriggers(f.triggers()),
		deployed, f.Invocations, f.Failures, f.Inflight, f.Restarts, f.Breaker)
	if err == nil && len(f.Runtime) > 0 {
		vars := make([]string, 0, len(f.Runtime))
		for _, k := range slices.Sorted(maps.Keys(f.Runtime)) {
			vars = append(vars, k+"="+f.Runtime[k])
		}
		_, err = fmt.Fprintf(w, "runtime: %s\n", strings.Join(vars, " "))
	}
	if err == nil && f.Sandbox != "" {
		_, err = fmt.Fprintf(w, "sandbox: %s\n", f.Sandbox)
	}
	if err == nil && f.StartError != "" {
		_, err = fmt.Fprintf(w, "start error: %s\n", f.StartError)
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
