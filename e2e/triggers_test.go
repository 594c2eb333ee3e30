package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// backendArgs are the serve flags of each backend configuration the trigger tests run on.
func backendConfigs(t *testing.T) map[string]func(t *testing.T) []string {
	return map[string]func(t *testing.T) []string{
		"embedded": func(*testing.T) []string { return nil },
		"brokers": func(t *testing.T) []string {
			return []string{"--redis", redisURL(t), "--amqp", amqpURL(t)}
		},
	}
}

// eachBackend runs f once per backend configuration.
func eachBackend(t *testing.T, f func(t *testing.T, args []string)) {
	for _, name := range []string{"embedded", "brokers"} {
		t.Run(name, func(t *testing.T) { f(t, backendConfigs(t)[name](t)) })
	}
}

// recordLine is one line of testfn's RECORD_FILE.
type recordLine struct {
	ID            string
	Attempt       int
	At            time.Time
	CorrelationID string
	Type          string
}

func readRecords(t testing.TB, path string) []recordLine {
	t.Helper()
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []recordLine
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 {
			continue
		}
		attempt, _ := strconv.Atoi(f[1])
		ms, _ := strconv.ParseInt(f[2], 10, 64)
		out = append(out, recordLine{ID: f[0], Attempt: attempt, At: time.UnixMilli(ms), CorrelationID: f[3], Type: f[4]})
	}
	return out
}

// uniqueName makes queue and stream names that no earlier run left messages in.
func uniqueName(kind string) string {
	return fmt.Sprintf("e2e-%s-%d", kind, time.Now().UnixNano())
}

func TestStreamEmitTriggersAnotherFunction(t *testing.T) {
	eachBackend(t, func(t *testing.T, args []string) {
		rec := filepath.Join(t.TempDir(), "rec")
		stream := uniqueName("s")
		g := startGateway(t, "", append(args, "--manifests", writeManifest(t, `
name: producer
handler: {{testfn}}
triggers:
  - http: {method: POST, path: "/t/{op}"}
---
name: consumer
handler: {{testfn}}
sandbox: off
env: {RECORD_FILE: "`+rec+`"}
triggers:
  - stream: {name: `+stream+`, filter: 'event.type == "record"'}
`))...)
		r := do(t, "POST", g.URL+"/t/emit", []byte(`{"stream":"`+stream+`"}`), "X-Request-ID", "req-emit-1")
		if r.Status != 202 {
			t.Fatalf("emit = %d %s", r.Status, r.Body)
		}
		var got []recordLine
		testkit.Eventually(t, 15*time.Second, "the stream consumer to record the event", func() bool {
			got = readRecords(t, rec)
			return len(got) > 0
		})
		if got[0].ID != "req-emit-1/producer/0" || got[0].CorrelationID != "req-emit-1" || got[0].Type != "record" || got[0].Attempt != 1 {
			t.Fatalf("recorded %+v", got[0])
		}
	})
}

func TestFilterSkipsEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, args []string) {
		rec := filepath.Join(t.TempDir(), "rec")
		stream := uniqueName("s")
		g := startGateway(t, "", append(args, "--manifests", writeManifest(t, `
name: consumer
handler: {{testfn}}
sandbox: off
env: {RECORD_FILE: "`+rec+`"}
triggers:
  - stream: {name: `+stream+`, filter: 'event.type == "record" && event.data.keep == true'}
`))...)
		for i, ev := range []struct{ typ, data string }{
			{"other", `{"keep":true}`}, {"record", `{"keep":false}`}, {"record", `{"keep":true}`},
			{"other", `{"keep":true}`}, {"record", `{"keep":true}`},
		} {
			mustCLI(t, g, "publish", "--stream", stream, "--type", ev.typ, "--id", "ev-"+strconv.Itoa(i), "--data", ev.data)
		}
		testkit.Eventually(t, 15*time.Second, "the two kept events", func() bool { return len(readRecords(t, rec)) >= 2 })
		var ids []string
		for _, l := range readRecords(t, rec) {
			ids = append(ids, l.ID)
		}
		sort.Strings(ids)
		if strings.Join(ids, ",") != "ev-2,ev-4" {
			t.Fatalf("recorded %v, want only ev-2 and ev-4", ids)
		}
	})
}

func TestRetriesBackoffDeadLetterAndRedrive(t *testing.T) {
	eachBackend(t, func(t *testing.T, args []string) {
		dir := t.TempDir()
		rec, fixed := filepath.Join(dir, "rec"), filepath.Join(dir, "fixed")
		queue := uniqueName("q")
		g := startGateway(t, "", append(args, "--manifests", writeManifest(t, `
name: worker
handler: {{testfn}}
sandbox: off
env: {RECORD_FILE: "`+rec+`", FIXED_FILE: "`+fixed+`"}
triggers:
  - queue: {name: `+queue+`, retries: 2, backoff: 300ms}
`))...)
		mustCLI(t, g, "publish", "--queue", queue, "--type", "fail", "--id", "poison-1", "--data", `{"x":1}`)
		var out string
		testkit.Eventually(t, 20*time.Second, "the message in the dead-letter queue", func() bool {
			out, _, _ = cli(t, g, "dlq", "list", queue)
			return strings.Contains(out, "poison-1")
		})
		if !strings.Contains(out, "poison-1") || !strings.Contains(out, " 3 ") || !strings.Contains(out, "hunter2") {
			t.Fatalf("dlq list:\n%s", out)
		}
		attempts := readRecords(t, rec)
		if len(attempts) != 3 {
			t.Fatalf("attempts recorded: %+v, want 3", attempts)
		}
		for i, a := range attempts {
			if a.Attempt != i+1 {
				t.Fatalf("attempt %d recorded as %d", i+1, a.Attempt)
			}
		}
		// Backoff 300ms then 600ms, ±20% jitter.
		if gap := attempts[1].At.Sub(attempts[0].At); gap < 240*time.Millisecond {
			t.Fatalf("first retry after %s, before its backoff", gap)
		}
		if gap := attempts[2].At.Sub(attempts[1].At); gap < 480*time.Millisecond {
			t.Fatalf("second retry after %s, before its backoff", gap)
		}
		show := mustCLI(t, g, "dlq", "show", queue)
		if !strings.Contains(show, `data: {"x":1}`) || !strings.Contains(show, "attempts: 3") {
			t.Fatalf("dlq show:\n%s", show)
		}

		os.WriteFile(fixed, nil, 0o600)
		if out := mustCLI(t, g, "dlq", "redrive", queue); !strings.Contains(out, "re-drove 1 ") {
			t.Fatalf("redrive said %q", out)
		}
		testkit.Eventually(t, 15*time.Second, "the re-driven message to succeed", func() bool {
			return len(readRecords(t, rec)) == 4
		})
		if last := readRecords(t, rec)[3]; last.ID != "poison-1" || last.Attempt != 1 {
			t.Fatalf("re-driven delivery %+v, want poison-1 at attempt 1", last)
		}
		_, stderr, _ := cli(t, g, "dlq", "list", queue)
		if !strings.Contains(stderr, "no dead letters") {
			t.Fatalf("dlq after redrive: %s", stderr)
		}
	})
}

func TestQueueReplyTo(t *testing.T) {
	eachBackend(t, func(t *testing.T, args []string) {
		rec := filepath.Join(t.TempDir(), "rec")
		queue, replies := uniqueName("rpc"), uniqueName("replies")
		g := startGateway(t, "", append(args, "--manifests", writeManifest(t, `
name: server
handler: {{testfn}}
env: {DEFAULT_OP: pong}
triggers:
  - queue: {name: `+queue+`}
---
name: client
handler: {{testfn}}
sandbox: off
env: {DEFAULT_OP: record, RECORD_FILE: "`+rec+`"}
triggers:
  - queue: {name: `+replies+`}
`))...)
		mustCLI(t, g, "publish", "--queue", queue, "--reply-to", replies, "--correlation-id", "corr-42", "--data", `"ping"`)
		testkit.Eventually(t, 15*time.Second, "the reply", func() bool { return len(readRecords(t, rec)) > 0 })
		if got := readRecords(t, rec)[0]; got.CorrelationID != "corr-42" {
			t.Fatalf("reply %+v, want correlation corr-42", got)
		}
	})
}
