// Command delaybench measures how late delayed queue messages arrive (docs/events.md,
// "Delayed messages") on the embedded backend and on RabbitMQ, through the backends'
// triggers.Delayer directly (no gateway, no function): for each delay it publishes -n
// messages, one every -spread/n, so that the part of the delay below a second varies, consumes
// them with an acknowledging consumer and reports, per backend and delay, how long after its
// delay each message arrived (min, median, p99, max) and how many arrived early (none may).
// A message's delay is counted from just before its publish call, so the figures include the
// publish. Every delay of both backends runs at once: the run takes the longest delay plus
// the spread and a few seconds.
//
// Usage, from the repository, with RabbitMQ on its default local port:
//
//	go run ./bench/cmd/delaybench -delays 1s,5s,30s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/amqp"
	"github.com/edgefn/edgefn/triggers/memory"
)

func main() {
	delays := flag.String("delays", "1s,5s,30s", "comma-separated delays to measure")
	n := flag.Int("n", 20, "messages per backend and delay")
	spread := flag.Duration("spread", time.Second, "the time over which one delay's messages are published")
	amqpURL := flag.String("amqp", envOr("EDGEFN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"), "RabbitMQ; empty: the embedded backend only")
	flag.Parse()
	var ds []time.Duration
	for _, s := range strings.Split(*delays, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			log.Fatalf("-delays: %q is not a positive duration", s)
		}
		ds = append(ds, d)
	}
	backends := map[string]triggers.Queues{"memory": memory.New(memory.Options{})}
	if *amqpURL != "" {
		q, err := amqp.Dial(*amqpURL, amqp.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
		if err != nil {
			log.Fatalf("rabbitmq: %v", err)
		}
		defer q.Close()
		backends["rabbitmq"] = q
	}
	var (
		mu      sync.Mutex
		results = map[string]*result{}
		wg      sync.WaitGroup
	)
	run := time.Now().UnixNano()
	for name, q := range backends {
		for _, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := measure(q, fmt.Sprintf("delaybench-%d-%s-%v", run, name, d), d, *n, *spread)
				if err != nil {
					log.Fatalf("%s, %v: %v", name, d, err)
				}
				mu.Lock()
				results[name+"/"+d.String()] = r
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	fmt.Printf("%d messages per backend and delay, published over %v; lateness = arrival − (publish call + delay)\n\n", *n, *spread)
	fmt.Println("| backend | delay | lateness min | median | p99 | max | early |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, name := range []string{"memory", "rabbitmq"} {
		for _, d := range ds {
			r := results[name+"/"+d.String()]
			if r == nil {
				continue
			}
			l := r.late
			slices.Sort(l)
			fmt.Printf("| %s | %v | %s | %s | %s | %s | %d |\n", name, d, ms(l[0]), ms(l[len(l)/2]),
				ms(l[min(len(l)-1, len(l)*99/100)]), ms(l[len(l)-1]), r.early)
		}
	}
}

// result is what one backend and delay measured.
type result struct {
	late  []time.Duration
	early int
}

// measure publishes n messages delayed d to a fresh queue over spread and waits for all.
func measure(q triggers.Queues, queue string, d time.Duration, n int, spread time.Duration) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+spread+time.Minute)
	defer cancel()
	src, err := q.ConsumeQueue(ctx, triggers.QueueOptions{Queue: queue, Prefetch: 64})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	sent := make(map[string]time.Time, n)
	var mu sync.Mutex
	go func() {
		for i := range n {
			id := strconv.Itoa(i)
			mu.Lock()
			sent[id] = time.Now()
			mu.Unlock()
			m := &triggers.Message{ID: id, Type: "bench", Data: []byte("{}"), ContentType: "application/json"}
			if err := q.(triggers.Delayer).PublishDelayed(ctx, queue, d, m); err != nil {
				log.Fatalf("publish: %v", err)
			}
			time.Sleep(spread / time.Duration(n))
		}
	}()
	r := &result{}
	for len(r.late) < n {
		ds, err := src.Receive(ctx, 64)
		if err != nil {
			return nil, fmt.Errorf("after %d of %d: %w", len(r.late), n, err)
		}
		now := time.Now()
		mu.Lock()
		for _, dl := range ds {
			late := now.Sub(sent[dl.ID]) - d
			if late < 0 {
				r.early++
			}
			r.late = append(r.late, late)
		}
		mu.Unlock()
		if err := src.Ack(ctx, ds...); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
