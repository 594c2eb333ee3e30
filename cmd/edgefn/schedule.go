package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/runtime/dispatch"
)

// scheduleAnswer is the answer of POST /admin/v1/functions/{name}/schedule/{action}.
type scheduleAnswer struct {
	Function  string                  `json:"function"`
	Runs      []string                `json:"runs"`
	Paused    bool                    `json:"paused"`
	Schedules []dispatch.ScheduleInfo `json:"schedules"`
}

func newScheduleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schedule (run | pause | resume) FUNCTION",
		Short: "Run a function's schedules now, or pause and resume them across the cluster",
		Long: "  run     start one run of each of the function's schedule triggers now (paused or not)\n" +
			"  pause   stop the ticks of its schedule triggers on every node; runs already started go on\n" +
			"  resume  start them again; the ticks that passed while paused are not run",
		Args: exactArgs("ACTION", "FUNCTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "run", "pause", "resume":
			default:
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("unknown action %q (run, pause or resume)", args[0])}
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			var res scheduleAnswer
			if err := c.callJSON(cmd.Context(), request{method: http.MethodPost, path: functionPath(args[1], "schedule", args[0])}, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch args[0] {
			case "run":
				_, err = fmt.Fprintf(out, "started %s\n", strings.Join(res.Runs, ", "))
			case "pause":
				_, err = fmt.Fprintf(out, "paused the schedules of %s\n", res.Function)
			default:
				_, err = fmt.Fprintf(out, "resumed the schedules of %s\n", res.Function)
			}
			return err
		},
	}
}
