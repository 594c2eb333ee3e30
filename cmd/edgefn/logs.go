package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// maxLogLine bounds one JSON line of the log stream.
const maxLogLine = 1 << 20

func newLogsCmd() *cobra.Command {
	var (
		follow bool
		tail   int
	)
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a function's output",
		Long: "logs prints the last lines a function's plugin processes wrote to stdout and stderr.\n" +
			"With --follow it keeps printing new lines until interrupted.",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail < 0 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--tail %d: must be >= 0", tail)}
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			err = logs(cmd.Context(), c, cmd.OutOrStdout(), args[0], tail, follow)
			if follow && errors.Is(err, context.Canceled) {
				return nil // Ctrl-C is how a follow ends
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	f.IntVar(&tail, "tail", 100, "print this many of the latest lines first")
	return cmd
}

// logs GETs the function's log lines and prints each as TIME STREAM TEXT.
func logs(ctx context.Context, c *client, w io.Writer, name string, tail int, follow bool) error {
	q := url.Values{"tail": {strconv.Itoa(tail)}}
	if follow {
		q.Set("follow", "true")
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: functionPath(name, "logs") + "?" + q.Encode()})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLogLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue // keep-alive
		}
		var l logLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("logs %s: decode line: %w", name, err)
		}
		if err := printLogLine(w, &l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("logs %s: %w", name, err)
	}
	return nil
}

// printLogLine writes l as `15:04:05.000 STREAM TEXT` in local time, or, for a line of the
// cluster's logs, `15:04:05.000 NODE STREAM TEXT`.
func printLogLine(w io.Writer, l *logLine) error {
	text := strings.TrimRight(l.Text, "\r\n")
	stream := l.Stream
	if l.Node != "" {
		stream = l.Node + " " + stream
	}
	if _, err := fmt.Fprintf(w, "%s %s %s\n", l.Time.Local().Format("15:04:05.000"), stream, text); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
