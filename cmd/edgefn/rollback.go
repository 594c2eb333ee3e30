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
		topics    bool
	)
	cmd := &cobra.Command{
		Use:   "rollback NAME | --topics",
		Short: "Go back to a function's previous version, or the topic rules'",
		Args: func(cmd *cobra.Command, args []string) error {
			if topics {
				return exactArgs()(cmd, args)
			}
			return exactArgs("NAME")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("if-version") && ifVersion < 1 {
				return fmt.Errorf("--if-version %d: want a version number, 1 or more", ifVersion)
			}
			c.ifVersion = ifVersion
			if topics {
				return rollbackRules(cmd.Context(), c, cmd.OutOrStdout(), wait)
			}
			var res versionResult
			r := request{method: http.MethodPost, path: functionPath(args[0], "rollback") + c.ifVersionQuery(),
				header: http.Header{deployerHeader: {deployer()}}}
			if err := c.callJSON(cmd.Context(), r, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s rolled back to version %d\n", res.Name, res.Version)
			return waitForNodes(cmd.Context(), c, cmd.OutOrStdout(), wait, []change{{name: res.Name, version: res.Version}})
		},
	}
	addWaitFlag(cmd, &wait)
	cmd.Flags().IntVar(&ifVersion, "if-version", 0, "roll back only if the current version (of the function, or of the topic rules) is N (else 409, nothing changes)")
	cmd.Flags().BoolVar(&topics, "topics", false, "roll back the topic rules instead of a function (takes no NAME)")
	return cmd
}
