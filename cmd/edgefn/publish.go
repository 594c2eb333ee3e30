package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newPublishCmd() *cobra.Command {
	var (
		stream, queue, topic, eventType, data, id, correlationID, replyTo string
		priority                                                          int
		delay                                                             time.Duration
	)
	cmd := &cobra.Command{
		Use:   "publish (--stream S | --queue Q [--delay D] | --topic T) --data JSON|@FILE",
		Short: "Publish an event to a stream or queue, or a notification to a WebSocket topic",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, t := range []string{stream, queue, topic} {
				if t != "" {
					n++
				}
			}
			if n != 1 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("give exactly one of --stream, --queue or --topic")}
			}
			if delay != 0 && queue == "" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--delay is for --queue only")}
			}
			if delay < 0 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--delay must not be negative")}
			}
			if !cmd.Flags().Changed("data") {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--data is required")}
			}
			body, _, err := invokeBody(cmd, data)
			if err != nil {
				return err
			}
			if !json.Valid(body) {
				return fmt.Errorf("--data must be JSON")
			}
			fields := map[string]any{
				"stream": stream, "queue": queue, "topic": topic, "type": eventType, "id": id,
				"correlationId": correlationID, "replyTo": replyTo, "priority": priority, "data": json.RawMessage(body),
			}
			if delay > 0 {
				fields["delay"] = delay.String()
			}
			req, _ := json.Marshal(fields)
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			var out struct {
				ID    string `json:"id"`
				Topic string `json:"topic"`
			}
			if err := c.callJSON(cmd.Context(), request{method: http.MethodPost, path: "/admin/v1/publish",
				body: bytes.NewReader(req), contentType: "application/json"}, &out); err != nil {
				return err
			}
			switch {
			case out.ID != "" && delay > 0:
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "published %s, delivered in %v\n", out.ID, delay)
			case out.ID != "":
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "published %s\n", out.ID)
			default:
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "notified %s\n", out.Topic)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&stream, "stream", "", "the stream to append to")
	f.StringVar(&queue, "queue", "", "the queue to publish to")
	f.StringVar(&topic, "topic", "", "the WebSocket topic to notify")
	f.StringVar(&eventType, "type", "", "the event type")
	f.StringVarP(&data, "data", "d", "", "the event's data: JSON inline, @FILE, or @- for stdin")
	f.StringVar(&id, "id", "", "the message ID (default: a random one)")
	f.StringVar(&correlationID, "correlation-id", "", "the correlation ID")
	f.IntVar(&priority, "priority", 0, "the priority, for priority queues")
	f.DurationVar(&delay, "delay", 0, "with --queue: deliver the message this long later, e.g. 10m")
	f.StringVar(&replyTo, "reply-to", "", "with --queue: the queue the consuming function's result is published to")
	return cmd
}
