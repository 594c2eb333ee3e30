package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/internal/cluster"
)

func newGetCmd() *cobra.Command {
	return readCmd("get NAME", "Show one function, with its stats", exactArgs("NAME"),
		func(args []string) string { return functionPath(args[0]) },
		func(cmd *cobra.Command, f *functionInfo) error { return printFunction(cmd.OutOrStdout(), f) })
}

// printFunction writes f as `key: value` lines, then the function on each node of the
// cluster, indented.
func printFunction(w io.Writer, f *functionInfo) error {
	deployed := "-"
	if !f.DeployedAt.IsZero() {
		deployed = f.DeployedAt.Format(time.RFC3339)
	}
	_, err := fmt.Fprintf(w, "name: %s\nversion: %d\nstate: %s\ninstances: %s\ntriggers: %s\n"+
		"deployed: %s\ninvocations: %d\nfailures: %d\ninflight: %d\nrestarts: %d\nbreaker: %s\n",
		f.Name, f.Version, f.State, instancesCell(f), joinTriggers(triggerCells(f)),
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
	if err == nil && f.RegistryError != "" {
		_, err = fmt.Fprintf(w, "registry error: %s\n", f.RegistryError)
	}
	if err == nil && f.Nodes != nil {
		_, err = fmt.Fprintf(w, "nodes: %s\n", nodesCell(f.Nodes))
	}
	for _, n := range f.PerNode {
		if err != nil {
			break
		}
		_, err = fmt.Fprintf(w, "  %s: %s\n", n.Node, nodeState(&n.Function))
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// nodeState is the function on one node: "v3 ready", "v2 starting (not ready)", "not running",
// with its start error.
func nodeState(f *cluster.Function) string {
	if f.Version == 0 {
		return "not running"
	}
	s := fmt.Sprintf("v%d %s", f.Version, f.State)
	if !f.Ready {
		s += " (not ready)"
	}
	if f.StartError != "" {
		s += ": " + f.StartError
	}
	return s
}
