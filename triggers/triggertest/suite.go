// Package triggertest is the conformance suite every queue and stream backend passes: the
// embedded one, RabbitMQ and Redis Streams run the same behaviours (publish and consume, ack,
// retry and redelivery, dead letters, shared work in a group, fan-out to groups, order, close
// while busy, cancel), as watermill's pubsub tests do for its Pub/Subs. A backend that does not
// promise something says so in Features instead of skipping silently.
package triggertest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

// Features says what a backend promises beyond the common contract.
type Features struct {
	// Name names the backend in test output.
	Name string
	// NoPriority: the queue backend ignores message priority.
	NoPriority bool
	// Restart, when set, makes the backend's broker drop every connection (or restart), so
	// the suite can check that consumers and publishers recover. Nil: not tested, and the
	// suite says so.
	Restart func(t *testing.T)
	// NoDelay: the queue backend holds no delayed messages (it is no triggers.Delayer).
	NoDelay bool
	// RetryGranularity is how late a Retry may redeliver beyond its delay; default 2s.
	RetryGranularity time.Duration
}

// unique returns a name no other test uses, so suites can share one broker.
func unique(t *testing.T, kind string) string {
	return fmt.Sprintf("edgefn-test-%s-%s-%d", kind, sanitize(t.Name()), time.Now().UnixNano())
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 60 {
		b = b[len(b)-60:]
	}
	return string(b)
}

// msgs makes n messages with IDs prefix-0 ... prefix-(n-1) and matching data.
func msgs(prefix string, n int) []*triggers.Message {
	out := make([]*triggers.Message, n)
	for i := range out {
		out[i] = &triggers.Message{
			ID: prefix + "-" + strconv.Itoa(i), Type: "TestEvent", ContentType: "application/json",
			Data: []byte(`{"n":` + strconv.Itoa(i) + `}`), CorrelationID: "corr-" + strconv.Itoa(i),
			Headers: map[string]string{"x-test": prefix},
		}
	}
	return out
}

// ReceiveN receives from src until n deliveries arrived, acking none; it fails t when a
// receive fails (ctx ending among them).
func ReceiveN(t *testing.T, ctx context.Context, src triggers.Source, n int) []*triggers.Delivery {
	t.Helper()
	var out []*triggers.Delivery
	for len(out) < n {
		ds, err := src.Receive(ctx, n-len(out))
		if err != nil {
			t.Fatalf("receive after %d of %d: %v", len(out), n, err)
		}
		out = append(out, ds...)
	}
	return out
}

// expectNothing checks that src delivers nothing within d.
func expectNothing(t *testing.T, src triggers.Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ds, err := src.Receive(ctx, 10)
	if len(ds) > 0 {
		t.Fatalf("unexpected delivery %q (attempt %d)", ds[0].ID, ds[0].Attempt)
	}
	if err != nil && ctx.Err() == nil {
		t.Fatalf("receive: %v", err)
	}
}

func ids(ds []*triggers.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func sortedIDs(ds []*triggers.Delivery) []string {
	out := ids(ds)
	sort.Strings(out)
	return out
}

func checkMessage(t *testing.T, d *triggers.Delivery, want *triggers.Message) {
	t.Helper()
	if d.ID != want.ID || d.Type != want.Type || string(d.Data) != string(want.Data) ||
		d.CorrelationID != want.CorrelationID || d.ContentType != want.ContentType || d.Headers["x-test"] != want.Headers["x-test"] {
		t.Fatalf("delivery %+v does not carry message %+v", d.Message, *want)
	}
	if d.Time.IsZero() {
		t.Fatalf("delivery %q has no time", d.ID)
	}
}

// collector gathers deliveries from several goroutines.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *collector) add(ds []*triggers.Delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	for _, d := range ds {
		c.seen[d.ID]++
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// checkLag waits until src reports want as its lag (a broker may count deliveries pushed to a
// consumer a moment after it handed them over), failing after 10s.
func checkLag(t *testing.T, src triggers.Source, want int64) {
	t.Helper()
	l, ok := src.(triggers.Lagger)
	if !ok {
		t.Fatalf("%T does not report its lag (triggers.Lagger)", src)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := l.Lag(testkit.Context(t, 5*time.Second))
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag %d (error %v), want %d", got, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
