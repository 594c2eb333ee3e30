// Command rawrpc is rpcbench's baseline: the RPC server of the RabbitMQ tutorials, written
// with amqp091-go as a user would. It consumes the queue named by -queue with -prefetch
// unacknowledged messages, and answers each request in turn with an empty reply to its
// reply_to, on the default exchange with the request's correlation_id, then acknowledges it:
// what edgefn does for a queue-triggered function that returns nothing, without the function.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func main() {
	url := flag.String("amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	queue := flag.String("queue", "", "the queue of the requests (declared durable)")
	prefetch := flag.Int("prefetch", 16, "unacknowledged requests held at once")
	flag.Parse()
	if err := serve(*url, *queue, *prefetch); err != nil {
		fmt.Fprintln(os.Stderr, "rawrpc:", err)
		os.Exit(1)
	}
}

func serve(url, queue string, prefetch int) error {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		return err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return err
	}
	reqs, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-reqs:
			if !ok {
				return fmt.Errorf("the broker closed the consumer")
			}
			err := ch.PublishWithContext(ctx, "", d.ReplyTo, false, false, amqp091.Publishing{
				CorrelationId: d.CorrelationId, Headers: amqp091.Table{"status": "200"},
			})
			if err != nil {
				return err
			}
			if err := d.Ack(false); err != nil {
				return err
			}
		}
	}
}
