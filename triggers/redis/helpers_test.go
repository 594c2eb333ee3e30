package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/testredis"

	"github.com/edgefn/edgefn/triggers"
)

func testURL() string { return testredis.URL() }

// testClient returns a client of the test Redis, closed when the test ends. When Redis
// cannot be reached the test is skipped loudly, or fails when CI is set.
func testClient(tb testing.TB) *goredis.Client {
	tb.Helper()
	return testredis.Client(tb, testClientName)
}

// testClientName names this package's connections, so that dropping them leaves alone the
// other test packages that share the Redis.
const testClientName = "edgefn-redis-test"

// dropAllConnections makes Redis drop every connection of this package's clients, as a broker
// restart would, without a restart (this Redis keeps nothing on disk) and without disturbing
// other packages' tests that share it.
func dropAllConnections(t *testing.T) { dropConnections(t, "") }

// dropPubSub makes Redis drop this package's fan-out (pubsub) connections only, as a network
// failure would.
func dropPubSub(t *testing.T) { dropConnections(t, "pubsub") }

// dropConnections kills this package's connections of the given CLIENT LIST type ("": all).
func dropConnections(t *testing.T, clientType string) {
	t.Helper()
	opt, err := goredis.ParseURL(testURL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args := []any{"CLIENT", "LIST"}
	if clientType != "" {
		args = append(args, "TYPE", clientType)
	}
	list, err := c.Do(ctx, args...).Text()
	if err != nil {
		t.Fatalf("client list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		var id string
		named := false
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "id="); ok {
				id = v
			}
			named = named || field == "name="+testClientName
		}
		if named && id != "" && c.Do(ctx, "CLIENT", "KILL", "ID", id).Err() == nil {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no %s connection of this package's clients to drop", clientType)
	}
	t.Logf("redis dropped %d connections", n)
}

// uniqueName returns a stream name no other test uses.
func uniqueName(t testing.TB) string {
	r := strings.NewReplacer("/", "-", " ", "-")
	return fmt.Sprintf("edgefn-test-redis-%s-%d", r.Replace(t.Name()), time.Now().UnixNano())
}

// deleteKeys deletes keys when the test ends.
func deleteKeys(tb testing.TB, c *goredis.Client, keys ...string) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Del(ctx, keys...).Err(); err != nil {
			tb.Logf("cleanup: del %v: %v", keys, err)
		}
	})
}

// newTestStreams returns the backend on a fresh client, with keys it touched deleted when
// the test ends.
func newTestStreams(t *testing.T, opts Options) (*recorder, *goredis.Client) {
	t.Helper()
	c := testClient(t)
	s, err := New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{Streams: s, keys: map[string]bool{}}
	t.Cleanup(func() {
		r.mu.Lock()
		keys := make([]string, 0, len(r.keys))
		for k := range r.keys {
			keys = append(keys, k)
		}
		r.mu.Unlock()
		if len(keys) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Logf("cleanup: del %v: %v", keys, err)
		}
	})
	return r, c
}

// recorder is the backend under test, noting every stream it touches so that the test can
// delete them: the conformance suite picks its own names.
type recorder struct {
	*Streams
	mu   sync.Mutex
	keys map[string]bool
}

func (r *recorder) note(keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if k != "" {
			r.keys[k] = true
		}
	}
}

func (r *recorder) PublishStream(ctx context.Context, stream string, msgs ...*triggers.Message) error {
	r.note(stream)
	return r.Streams.PublishStream(ctx, stream, msgs...)
}

func (r *recorder) ConsumeStream(ctx context.Context, opts triggers.StreamOptions) (triggers.Source, error) {
	dlq := opts.DeadLetter
	if dlq == "" {
		dlq = opts.Stream + ".dlq"
	}
	r.note(opts.Stream, dlq)
	return r.Streams.ConsumeStream(ctx, opts)
}

func (r *recorder) ListDead(ctx context.Context, name string, limit int) ([]triggers.DeadMessage, error) {
	r.note(name)
	return r.Streams.ListDead(ctx, name, limit)
}

func (r *recorder) Redrive(ctx context.Context, name, target string, limit int) (int, error) {
	r.note(name, target)
	return r.Streams.Redrive(ctx, name, target, limit)
}

func (r *recorder) Purge(ctx context.Context, name string) (int, error) {
	r.note(name)
	return r.Streams.Purge(ctx, name)
}
