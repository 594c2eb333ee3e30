package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

func newRollbackCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback NAME",
		Short: "Go back to a function's previous version",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			var res versionResult
			r := request{method: http.MethodPost, path: functionPath(args[0], "rollback")}
			if err := c.callJSON(cmd.Context(), r, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s rolled back to version %d\n", res.Name, res.Version)
			return nil
		},
	}
}
