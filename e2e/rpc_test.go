package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgefn/edgefn/internal/testkit"
)

// rpcClient is the RPC client of the RabbitMQ tutorials, as a user writes it with amqp091-go:
// a connection of its own, a reply queue (an exclusive server-named queue it declares, or
// direct reply-to), and requests carrying reply_to and a correlation_id. It waits for several
// calls at once, matching replies to calls by correlation_id.
type rpcClient struct {
	conn    *amqp091.Connection
	ch      *amqp091.Channel
	replyTo string

	mu      sync.Mutex
	waiting map[string]chan amqp091.Delivery
}

func dialRPCClient(t *testing.T, url string, direct bool) *rpcClient {
	t.Helper()
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	c := &rpcClient{conn: conn, ch: ch, replyTo: "amq.rabbitmq.reply-to", waiting: map[string]chan amqp091.Delivery{}}
	if !direct {
		q, err := ch.QueueDeclare("", false, false, true, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.replyTo = q.Name
	}
	replies, err := ch.Consume(c.replyTo, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range replies {
			c.mu.Lock()
			w := c.waiting[d.CorrelationId]
			delete(c.waiting, d.CorrelationId)
			c.mu.Unlock()
			if w != nil {
				w <- d
			}
		}
	}()
	return c
}

// send publishes a request of type op to queue and returns where its reply will arrive.
func (c *rpcClient) send(ctx context.Context, queue, op, corrID, body string) (<-chan amqp091.Delivery, error) {
	w := make(chan amqp091.Delivery, 1)
	c.mu.Lock()
	c.waiting[corrID] = w
	c.mu.Unlock()
	err := c.ch.PublishWithContext(ctx, "", queue, false, false, amqp091.Publishing{
		ContentType: "text/plain", CorrelationId: corrID, ReplyTo: c.replyTo, Type: op, Body: []byte(body),
	})
	return w, err
}

// call sends a request and waits for its reply.
func (c *rpcClient) call(ctx context.Context, queue, op, corrID, body string) (amqp091.Delivery, error) {
	w, err := c.send(ctx, queue, op, corrID, body)
	if err != nil {
		return amqp091.Delivery{}, err
	}
	select {
	case d := <-w:
		return d, nil
	case <-ctx.Done():
		return amqp091.Delivery{}, fmt.Errorf("no reply to %s: %w", corrID, ctx.Err())
	}
}

var rpcModes = []struct {
	name   string
	direct bool
}{{"exclusive queue", false}, {"direct reply-to", true}}

// TestRabbitMQRPCClients: the tutorials' RPC client, in both reply modes, gets one reply per
// call with its correlation_id, from a queue-triggered function; a call that fails for good
// gets an error reply.
func TestRabbitMQRPCClients(t *testing.T) {
	aurl := amqpURL(t)
	queue := uniqueName("rpc")
	g := startGateway(t, "", "--amqp", aurl, "--manifests", writeManifest(t, `
name: rpc-server
handler: {{testfn}}
triggers:
  - queue: {name: `+queue+`, retries: 0}
`))
	for _, mode := range rpcModes {
		t.Run(mode.name, func(t *testing.T) {
			client := dialRPCClient(t, aurl, mode.direct)
			ctx := testkit.Context(t, 30*time.Second)
			const n = 64
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					corr := fmt.Sprintf("%s-%d", strings.ReplaceAll(mode.name, " ", "-"), i)
					d, err := client.call(ctx, queue, "pong", corr, corr)
					switch {
					case err != nil:
						errs <- err
					case d.CorrelationId != corr || string(d.Body) != "pong:"+corr || d.Headers["status"] != "200":
						errs <- fmt.Errorf("call %s got reply %q with correlation %q and headers %v", corr, d.Body, d.CorrelationId, d.Headers)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			d, err := client.call(ctx, queue, "fail", "fails-"+mode.name, "")
			if err != nil {
				t.Fatal(err)
			}
			if d.Headers["status"] != "500" || d.Headers["x-edgefn-error"] != "function_error" || d.ContentType != "application/json" ||
				string(d.Body) != `{"error":{"code":"function_error","message":"the function failed"}}` {
				t.Fatalf("the reply to a call that failed: %q, %s, headers %v", d.Body, d.ContentType, d.Headers)
			}
		})
	}
	fams := scrape(t, g)
	for outcome, want := range map[string]float64{"sent": 2 * 64, "error": 2, "returned": 0, "failed": 0} {
		got, ok := series(fams, "edgefn_trigger_replies_total", map[string]string{"function": "rpc-server", "trigger": "queue/" + queue, "outcome": outcome})
		if !ok || got != want {
			t.Errorf("edgefn_trigger_replies_total{outcome=%q} = %v (found %v), want %v\n%s", outcome, got, ok, want, describe(fams, "edgefn_trigger_replies_total"))
		}
	}
}

// TestRPCCallerThatLeftDoesNotFailTheRequest: the function finishes after its caller went
// away; the request is acknowledged, not retried or dead-lettered. A reply to the caller's
// queue comes back from the broker and is counted as returned; a direct reply is dropped by
// the broker without a word.
func TestRPCCallerThatLeftDoesNotFailTheRequest(t *testing.T) {
	aurl := amqpURL(t)
	for _, mode := range rpcModes {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			rec, gate := filepath.Join(dir, "rec"), filepath.Join(dir, "gate")
			queue := uniqueName("rpc-gone")
			g := startGateway(t, "", "--amqp", aurl, "--manifests", writeManifest(t, `
name: rpc-slow
handler: {{testfn}}
sandbox: off
env: {RECORD_FILE: "`+rec+`", GATE_FILE: "`+gate+`"}
triggers:
  - queue: {name: `+queue+`, backoff: 100ms}
`))
			client := dialRPCClient(t, aurl, mode.direct)
			if _, err := client.send(testkit.Context(t, 10*time.Second), queue, "pong", "corr-gone", "x"); err != nil {
				t.Fatal(err)
			}
			// The tutorials' client sets no message_id: count the lines the function wrote.
			invocations := func() int {
				raw, _ := os.ReadFile(rec)
				return strings.Count(string(raw), "\n")
			}
			testkit.Eventually(t, 15*time.Second, "the function to start on the request", func() bool { return invocations() == 1 })
			if err := client.conn.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(gate, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			outcome := "returned"
			if mode.direct {
				outcome = "sent"
			}
			labels := map[string]string{"function": "rpc-slow", "outcome": outcome}
			testkit.Eventually(t, 15*time.Second, "the reply "+outcome, func() bool {
				n, ok := series(scrape(t, g), "edgefn_trigger_replies_total", labels)
				return ok && n == 1
			})
			fams := scrape(t, g)
			if n, _ := series(fams, "edgefn_trigger_retries_total", map[string]string{"function": "rpc-slow"}); n != 0 {
				t.Fatalf("the request was retried %v times", n)
			}
			if n, _ := series(fams, "edgefn_trigger_dead_letters_total", map[string]string{"function": "rpc-slow"}); n != 0 {
				t.Fatalf("the request was dead-lettered %v times", n)
			}
			if n := invocations(); n != 1 {
				t.Fatalf("the function ran %d times", n)
			}
			if _, errOut, _ := cli(t, g, "dlq", "list", queue); !strings.Contains(errOut, "no dead letters") {
				t.Fatalf("dlq list %s: %s", queue, errOut)
			}
		})
	}
}
