package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/amqp"
)

// publishDirect puts n messages on queue and n entries on stream straight through the
// brokers, as producers outside edgefn would, and returns every ID.
func publishDirect(t *testing.T, queue, stream string, n int) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q, err := amqp.Dial(amqpURL(t), amqp.Options{Name: "e2e producer"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	opts, _ := goredis.ParseURL(redisURL(t))
	rdb := goredis.NewClient(opts)
	defer rdb.Close()

	ids := map[string]bool{}
	const batch = 500
	for start := 0; start < n; start += batch {
		var msgs []*triggers.Message
		pipe := rdb.Pipeline()
		for i := start; i < min(start+batch, n); i++ {
			qid, sid := fmt.Sprintf("q-%d", i), fmt.Sprintf("s-%d", i)
			ids[qid], ids[sid] = true, true
			msgs = append(msgs, &triggers.Message{ID: qid, Type: "record", ContentType: "application/json", Data: []byte(`{}`)})
			// A producer of its own, with the field names many existing producers use.
			pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{
				"eventId", sid, "eventType", "record", "timestamp", time.Now().UTC().Format(time.RFC3339),
				"correlationId", "corr-" + strconv.Itoa(i), "data", `{}`}})
		}
		if err := q.PublishQueue(ctx, queue, msgs...); err != nil {
			t.Fatal(err)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { rdb := goredis.NewClient(opts); rdb.Del(context.Background(), stream); rdb.Close() })
	return ids
}

// missing returns how many of want are not yet recorded.
func missing(t *testing.T, rec string, want map[string]bool) int {
	seen := map[string]bool{}
	for _, l := range readRecords(t, rec) {
		seen[l.ID] = true
	}
	n := 0
	for id := range want {
		if !seen[id] {
			n++
		}
	}
	return n
}

func recorderManifest(t *testing.T, rec, queue, stream string) string {
	return writeManifest(t, `
name: rec
handler: {{testfn}}
timeout: 2s
instances: 2
concurrency: 64
sandbox: off
env: {FORCE_OP: record, RECORD_FILE: "`+rec+`"}
triggers:
  - queue: {name: `+queue+`, prefetch: 64}
  - stream: {name: `+stream+`, from: oldest}
`)
}

func TestKillGatewayLosesNoMessage(t *testing.T) {
	args := []string{"--redis", redisURL(t), "--amqp", amqpURL(t)}
	rec := filepath.Join(t.TempDir(), "rec")
	queue, stream := uniqueName("q"), uniqueName("s")
	dataDir := t.TempDir()
	m := recorderManifest(t, rec, queue, stream)
	// Everything is waiting in the brokers before the gateway starts consuming.
	want := publishDirect(t, queue, stream, 10_000)
	g := startGateway(t, dataDir, append(args, "--manifests", m)...)
	testkit.Eventually(t, 30*time.Second, "processing to be under way", func() bool { return len(readRecords(t, rec)) > 500 })
	g.kill()
	left := missing(t, rec, want)
	t.Logf("gateway killed with %d of %d messages not yet processed", left, len(want))
	if left == 0 {
		t.Fatal("everything was processed before the kill; the test proved nothing")
	}

	startGateway(t, dataDir, append(args, "--manifests", m)...)
	testkit.Eventually(t, 3*time.Minute, "every message to be processed after the restart", func() bool {
		return missing(t, rec, want) == 0
	})
	checkProducerFields(t, rec)
}

func TestKillPluginLosesNoMessage(t *testing.T) {
	args := []string{"--redis", redisURL(t), "--amqp", amqpURL(t)}
	rec := filepath.Join(t.TempDir(), "rec")
	queue, stream := uniqueName("q"), uniqueName("s")
	want := publishDirect(t, queue, stream, 10_000)
	g := startGateway(t, "", append(args, "--manifests", recorderManifest(t, rec, queue, stream))...)
	testkit.Eventually(t, 30*time.Second, "processing to be under way", func() bool { return len(readRecords(t, rec)) > 500 })
	plugins, _ := children(g.cmd.Process.Pid)
	if len(plugins) == 0 {
		t.Fatal("no plugin process found")
	}
	for _, p := range plugins {
		syscall.Kill(p, syscall.SIGKILL)
	}
	left := missing(t, rec, want)
	t.Logf("killed %d plugin processes with %d of %d messages not yet processed", len(plugins), left, len(want))
	if left == 0 {
		t.Fatal("everything was processed before the kill; the test proved nothing")
	}
	testkit.Eventually(t, 3*time.Minute, "every message to be processed after the plugins restarted", func() bool {
		return missing(t, rec, want) == 0
	})
	var info struct{ Restarts int }
	g.admin(t, "GET", "/admin/v1/functions/rec", nil).JSON(t, &info)
	if info.Restarts < len(plugins) {
		t.Fatalf("restarts = %d, want at least %d", info.Restarts, len(plugins))
	}
}

// checkProducerFields checks that entries written with producer-style field names reached the
// function with their id, type and correlation ID.
func checkProducerFields(t *testing.T, rec string) {
	for _, l := range readRecords(t, rec) {
		if l.ID == "s-7" {
			if l.Type != "record" || l.CorrelationID != "corr-7" {
				t.Fatalf("producer-style entry arrived as %+v", l)
			}
			return
		}
	}
	t.Fatal("entry s-7 was never recorded")
}
