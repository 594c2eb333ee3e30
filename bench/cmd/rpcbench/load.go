package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// result is one run of the clients against one server.
type result struct {
	// lat are the calls' round trips, sorted.
	lat     []time.Duration
	elapsed time.Duration
	// failed counts calls with no reply within -timeout, or a reply with another correlation_id.
	failed int
	// other is the share of the machine other processes used during the run.
	other float64
	// cpu is the CPU time a call took, by who spent it.
	cpu cpuPerCall
}

// cpuPerCall splits the CPU time of a run, per call answered, in µs: the server (edgefn's
// gateway, or rawrpc), its child processes (edgefn's plugin and the launchers kept ready),
// RabbitMQ, and the clients (rpcbench itself).
type cpuPerCall struct {
	server, plugin, broker, clients float64
}

// rate is the calls answered per second.
func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.lat)) / r.elapsed.Seconds()
}

// client is the RPC client of the RabbitMQ tutorials: a connection, a channel, an exclusive
// server-named reply queue, one call at a time.
type client struct {
	conn    *amqp091.Connection
	ch      *amqp091.Channel
	replyTo string
	replies <-chan amqp091.Delivery
	seq     int
}

func dialClients(url string, n int) ([]*client, error) {
	var cs []*client
	for range n {
		c, err := dialClient(url)
		if err != nil {
			closeClients(cs)
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func dialClient(url string) (*client, error) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn}
	if c.ch, err = conn.Channel(); err != nil {
		conn.Close()
		return nil, err
	}
	q, err := c.ch.QueueDeclare("", false, false, true, false, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.replyTo = q.Name
	if c.replies, err = c.ch.Consume(q.Name, "", true, true, false, false, nil); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func closeClients(cs []*client) {
	for _, c := range cs {
		c.conn.Close()
	}
}

// call makes one call and returns its round trip; ok is false when no matching reply came
// within timeout.
func (c *client) call(ctx context.Context, queue string, timeout time.Duration) (time.Duration, bool, error) {
	c.seq++
	corr := strconv.Itoa(c.seq)
	start := time.Now()
	err := c.ch.PublishWithContext(ctx, "", queue, false, false, amqp091.Publishing{CorrelationId: corr, ReplyTo: c.replyTo})
	if err != nil {
		return 0, false, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case d, ok := <-c.replies:
			if !ok {
				return 0, false, fmt.Errorf("the reply consumer closed")
			}
			if d.CorrelationId != corr {
				continue // a late reply to a call that timed out
			}
			return time.Since(start), true, nil
		case <-t.C:
			return 0, false, nil
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
	}
}

// callFor has every client call queue, one call after the other, for d.
func callFor(ctx context.Context, clients []*client, queue string, d, timeout time.Duration) (result, error) {
	var mu sync.Mutex
	var res result
	var firstErr error
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			var lat []time.Duration
			failed := 0
			var err error
			for time.Now().Before(end) {
				var rt time.Duration
				var ok bool
				if rt, ok, err = c.call(ctx, queue, timeout); err != nil {
					break
				}
				if !ok {
					failed++
					continue
				}
				lat = append(lat, rt)
			}
			mu.Lock()
			defer mu.Unlock()
			res.lat = append(res.lat, lat...)
			res.failed += failed
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lat)
	return res, firstErr
}
