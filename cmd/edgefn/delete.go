package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newDeleteCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Stop a function and remove it",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.do(cmd.Context(), request{method: http.MethodDelete, path: functionPath(args[0])})
			if err != nil {
				return err
			}
			resp.Body.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return waitForNodes(cmd.Context(), c, cmd.OutOrStdout(), wait, []change{{name: args[0]}})
		},
	}
	addWaitFlag(cmd, &wait)
	return cmd
}
