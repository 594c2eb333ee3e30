package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// deadLetters is GET /admin/v1/dlq/{trigger}.
type deadLetters struct {
	Trigger    string `json:"trigger"`
	Kind       string `json:"kind"`
	DeadLetter string `json:"deadLetter"`
	Messages   []struct {
		ID            string            `json:"id"`
		Type          string            `json:"type"`
		Subject       string            `json:"subject"`
		Time          time.Time         `json:"time"`
		ContentType   string            `json:"contentType"`
		CorrelationID string            `json:"correlationId"`
		Headers       map[string]string `json:"headers"`
		Data          string            `json:"data"`
		Error         string            `json:"error"`
		Attempts      int               `json:"attempts"`
	} `json:"messages"`
}

func newDLQCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "dlq (list | show | redrive | purge) TRIGGER",
		Short: "Inspect, re-drive or purge the dead letters of a queue, stream or schedule trigger",
		Long: "TRIGGER is the queue or stream name of a deployed function's trigger, or\n" +
			"schedule/FUNCTION for the failed runs of a function's schedule triggers.\n" +
			"  list     one line per dead letter: ID, type, attempts, error\n" +
			"  show     every dead letter in full, with its data\n" +
			"  redrive  move the dead letters back to the trigger's queue or stream (a schedule's\n" +
			"           runs run again, at attempt 1)\n" +
			"  purge    delete them",
		Args: exactArgs("ACTION", "TRIGGER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			path := "/admin/v1/dlq/" + url.PathEscape(args[1])
			if fn, ok := strings.CutPrefix(args[1], "schedule/"); ok {
				path = "/admin/v1/dlq/schedule/" + url.PathEscape(fn)
			}
			out := cmd.OutOrStdout()
			switch args[0] {
			case "list", "show":
				var dl deadLetters
				if err := c.getJSON(cmd.Context(), path+"?limit="+strconv.Itoa(limit), &dl); err != nil {
					return err
				}
				if len(dl.Messages) == 0 {
					_, err := fmt.Fprintf(cmd.ErrOrStderr(), "no dead letters in %s %s\n", dl.Kind, dl.DeadLetter)
					return err
				}
				if args[0] == "list" {
					w := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
					fmt.Fprintln(w, "ID\tTYPE\tATTEMPTS\tERROR")
					for _, m := range dl.Messages {
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", m.ID, m.Type, m.Attempts, truncate(m.Error, 80))
					}
					return w.Flush()
				}
				for i, m := range dl.Messages {
					if i > 0 {
						fmt.Fprintln(out)
					}
					fmt.Fprintf(out, "id: %s\ntype: %s\ntime: %s\nattempts: %d\nerror: %s\n", m.ID, m.Type,
						m.Time.Format(time.RFC3339), m.Attempts, m.Error)
					if m.CorrelationID != "" {
						fmt.Fprintf(out, "correlationId: %s\n", m.CorrelationID)
					}
					fmt.Fprintf(out, "data: %s\n", strings.TrimSpace(m.Data))
				}
				return nil
			case "redrive":
				var res struct{ Moved int }
				if err := c.callJSON(cmd.Context(), request{method: http.MethodPost, path: path + "/redrive?limit=" + strconv.Itoa(limit)}, &res); err != nil {
					return err
				}
				_, err := fmt.Fprintf(out, "re-drove %d dead letters to %s\n", res.Moved, args[1])
				return err
			case "purge":
				var res struct{ Purged int }
				if err := c.callJSON(cmd.Context(), request{method: http.MethodDelete, path: path}, &res); err != nil {
					return err
				}
				_, err := fmt.Fprintf(out, "purged %d dead letters of %s\n", res.Purged, args[1])
				return err
			}
			return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("unknown action %q (list, show, redrive or purge)", args[0])}
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "how many dead letters to list or re-drive at most")
	return cmd
}
