package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/gateway"
)

func newListCmd() *cobra.Command {
	return readCmd("list", "List the deployed functions", exactArgs(),
		func([]string) string { return adminPrefix + "/functions" },
		func(cmd *cobra.Command, list *functionList) error {
			if len(list.Functions) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no functions deployed")
				return nil
			}
			return printTable(cmd.OutOrStdout(), list.Functions)
		})
}

// readCmd is a command that GETs one resource of the admin API, at the path its arguments
// give, and prints it: by print, or with -o json as the server sent it.
func readCmd[T any](use, short string, args cobra.PositionalArgs, path func(args []string) string,
	print func(cmd *cobra.Command, v *T) error) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, output); err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			p := path(args)
			if output == outputJSON {
				return printRaw(cmd, c, p)
			}
			var v T
			if err := c.getJSON(cmd.Context(), p, &v); err != nil {
				return err
			}
			return print(cmd, &v)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// printTable writes one row per function: NAME VERSION STATE INSTANCES NODES TRIGGERS.
func printTable(w io.Writer, fns []functionInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSTATE\tINSTANCES\tNODES\tTRIGGERS")
	for _, f := range fns {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n",
			f.Name, f.Version, f.State, instancesCell(&f), nodesCell(f.Nodes), joinTriggers(triggerCells(&f)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// instancesCell is READY/RUNNING, with "(idle)" for a function scaled to zero and the scale's
// bounds for one that scales: "0/0 (idle)", "2/2 (0-8)", "1/1".
func instancesCell(f *functionInfo) string {
	cell := fmt.Sprintf("%d/%d", f.Ready, f.Instances)
	switch {
	case f.State == "idle":
		return cell + " (idle)"
	case f.Min != f.Max:
		return fmt.Sprintf("%s (%d-%d)", cell, f.Min, f.Max)
	}
	return cell
}

// nodesCell is NODES: the live nodes that run the function's version ready, of all live
// nodes ("3/3"), or "-" when the server did not say.
func nodesCell(n *gateway.NodeCount) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprintf("%d/%d", n.Ready, n.Total)
}

// joinTriggers joins a function's triggers with commas, or "-" when it has none.
func joinTriggers(ts []string) string {
	if len(ts) == 0 {
		return "-"
	}
	return strings.Join(ts, ", ")
}

// The values of --output.
const (
	outputText = "text"
	outputJSON = "json"
)

// addOutputFlag declares --output (-o) on cmd: text for people, json for scripts.
func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", outputText, "output format: text or json")
}

// checkOutput rejects an --output value other than text and json, as a usage error.
func checkOutput(cmd *cobra.Command, output string) error {
	if output == outputText || output == outputJSON {
		return nil
	}
	err := fmt.Errorf("--output %q: want %s or %s", output, outputText, outputJSON)
	return &usageError{cmd: cmd.CommandPath(), err: err}
}

// printRaw GETs path and prints the JSON as the server sent it, ending in a newline.
func printRaw(cmd *cobra.Command, c *client, path string) error {
	body, err := c.getRaw(cmd.Context(), path)
	if err != nil {
		return err
	}
	return writeWithNewline(cmd.OutOrStdout(), body)
}

// writeWithNewline writes b and a newline when b does not end in one (and is not empty).
func writeWithNewline(w io.Writer, b []byte) error {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
