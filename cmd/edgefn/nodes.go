package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/internal/cluster"
)

// nodeList is the answer of GET /admin/v1/nodes.
type nodeList = cluster.List

func newNodesCmd() *cobra.Command {
	return readCmd("nodes", "List the nodes of the server's cluster, live or gone", exactArgs(),
		func([]string) string { return adminPrefix + "/nodes" },
		func(cmd *cobra.Command, list *nodeList) error { return printNodes(cmd.OutOrStdout(), list) })
}

// printNodes writes one row per node: ID ADDRESS VERSION STARTED LAST SEEN STATE FUNCTIONS,
// the times as ages at the list's time (the registry's clock, not this machine's).
func printNodes(w io.Writer, l *nodeList) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tVERSION\tSTARTED\tLAST SEEN\tSTATE\tFUNCTIONS")
	for _, n := range l.Nodes {
		ready := 0
		for _, f := range n.Functions {
			if f.Ready {
				ready++
			}
		}
		state := string(n.State)
		if n.Error != "" {
			state += " (" + n.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", n.ID, dash(n.Address), dash(n.Version),
			ago(l.ListedAt, n.Started), ago(l.ListedAt, n.LastSeen), state, ready, len(n.Functions))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// ago is how long before now t was, in its largest unit (45s ago, 3m ago, 2h ago, 4d ago);
// "-" for no time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(now.Sub(t), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// dash is s, or "-" when it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
