package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newRollbackCmd() *cobra.Command {
	var (
		ifVersion int
		wait      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rollback NAME",
		Short: "Go back to a function's previous version",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("if-version") && ifVersion < 1 {
				return fmt.Errorf("--if-version %d: want a version number, 1 or more", ifVersion)
			}
			c.ifVersion = ifVersion
			var res versionResult
			r := request{method: http.MethodPost, path: functionPath(args[0], "rollback") + c.ifVersionQuery(),
				header: http.Header{deployerHeader: {deployer()}}}
			if err := c.callJSON(cmd.Context(), r, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s rolled back to version %d\n", res.Name, res.Version)
			return waitForNodes(cmd.Context(), c, cmd.OutOrStdout(), wait, []change{{res.Name, res.Version}})
		},
	}
	addWaitFlag(cmd, &wait)
	cmd.Flags().IntVar(&ifVersion, "if-version", 0, "roll back only if the function's current version is N (else 409, nothing changes)")
	return cmd
}
