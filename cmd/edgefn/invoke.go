package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newInvokeCmd() *cobra.Command {
	var (
		data        string
		async, wait bool
	)
	cmd := &cobra.Command{
		Use:   "invoke NAME",
		Short: "Call a function and print its result",
		Long: "invoke calls a function directly with --data as the event's data and prints the\n" +
			"function's answer. --data takes JSON (or any text) inline, @FILE to read a file,\n" +
			"or @- to read standard input. With --async the call is queued and invoke prints its\n" +
			"correlation ID at once; --wait (which implies --async) then waits for the reply and\n" +
			"prints it.",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, contentType, err := invokeBody(cmd, data)
			if err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			if async || wait {
				return invokeAsync(cmd, c, args[0], body, contentType, wait)
			}
			return invoke(cmd, c, args[0], body, contentType)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&data, "data", "d", "", "the event's data: JSON or text inline, @FILE, or @- for stdin")
	f.BoolVar(&async, "async", false, "run asynchronously and print the correlation ID")
	f.BoolVar(&wait, "wait", false, "run asynchronously, wait for the reply and print it")
	return cmd
}

// invokeBody reads --data: inline, @FILE, or @- for stdin. The content type is JSON when the
// data is valid JSON, else text for inline data and bytes for a file. No --data is no body.
func invokeBody(cmd *cobra.Command, data string) (body []byte, contentType string, err error) {
	if !cmd.Flags().Changed("data") {
		return nil, "", nil
	}
	switch {
	case data == "@-":
		body, err = io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, "", fmt.Errorf("--data @-: read stdin: %w", err)
		}
	case strings.HasPrefix(data, "@"):
		body, err = os.ReadFile(data[1:])
		if err != nil {
			return nil, "", fmt.Errorf("--data %s: %w", data, unwrapPath(err))
		}
	default:
		body = []byte(data)
		if json.Valid(body) {
			return body, "application/json", nil
		}
		return body, "text/plain; charset=utf-8", nil
	}
	if json.Valid(body) {
		return body, "application/json", nil
	}
	return body, "application/octet-stream", nil
}

// invoke POSTs body to the function name and prints the answer as it came, ending in a
// newline. A non-2xx answer is an error.
func invoke(cmd *cobra.Command, c *client, name string, body []byte, contentType string) error {
	resp, err := c.do(cmd.Context(), request{
		method:      http.MethodPost,
		path:        functionPath(name, "invoke"),
		body:        bytes.NewReader(body),
		contentType: contentType,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("invoke %s: read response: %w", name, err)
	}
	return writeWithNewline(cmd.OutOrStdout(), out)
}

// invokeAsync queues a call with Prefer: respond-async and prints its ID, or with wait the
// reply, fetched with GET /requests/{id}?wait= until it is there.
func invokeAsync(cmd *cobra.Command, c *client, name string, body []byte, contentType string, wait bool) error {
	var accepted struct {
		ID string `json:"id"`
	}
	err := c.callJSON(cmd.Context(), request{
		method: http.MethodPost, path: functionPath(name, "invoke"), body: bytes.NewReader(body),
		contentType: contentType, header: http.Header{"Prefer": {"respond-async"}},
	}, &accepted)
	if err != nil {
		return err
	}
	if accepted.ID == "" {
		return fmt.Errorf("invoke %s: the server did not accept the call asynchronously", name)
	}
	if !wait {
		_, err := fmt.Fprintln(cmd.OutOrStdout(), accepted.ID)
		return err
	}
	for {
		resp, err := c.do(cmd.Context(), request{method: http.MethodGet, path: "/requests/" + accepted.ID + "?wait=30s"})
		if err != nil {
			return err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("invoke %s: read reply: %w", name, err)
		}
		// A function may answer 202 itself: the state header tells its reply from "pending".
		if resp.Header.Get("Edgefn-Request-State") != "pending" {
			return writeWithNewline(cmd.OutOrStdout(), out)
		}
	}
}
