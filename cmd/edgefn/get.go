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
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one function, with its stats",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, output); err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			path := functionPath(args[0])
			if output == outputJSON {
				return printRaw(cmd, c, path)
			}
			var f functionInfo
			if err := c.getJSON(cmd.Context(), path, &f); err != nil {
				return err
			}
			return printFunction(cmd.OutOrStdout(), &f)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// printFunction writes f as `key: value` lines.
func printFunction(w io.Writer, f *functionInfo) error {
	deployed := "-"
	if !f.DeployedAt.IsZero() {
		deployed = f.DeployedAt.Format(time.RFC3339)
	}
	_, err := fmt.Fprintf(w, "name: %s\nversion: %d\nstate: %s\ninstances: %d/%d\ntriggers: %s\n"+
		"deployed: %s\ninvocations: %d\nfailures: %d\ninflight: %d\nrestarts: %d\nbreaker: %s\n",
		f.Name, f.Version, f.State, f.Ready, f.Instances, joinTriggers(f.Triggers),
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
