package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/triggertest"
)

func TestTopicsConformance(t *testing.T) {
	testClient(t) // skip the whole suite at once when Redis is away
	triggertest.RunTopics(t, func(t *testing.T, opts triggers.HistoryOptions) triggers.Topics {
		return newTestTopics(t, opts)
	}, triggertest.TopicFeatures{Name: "redis", Drop: dropPubSub})
}

// testPrefixes holds the key prefix of each test, so that the Topics of one test are nodes
// of one deployment and tests do not hear each other.
var testPrefixes sync.Map // *testing.T → string

// newTestTopics returns a node of the test's deployment, on a client of its own; the
// deployment's keys are deleted when the test ends.
func newTestTopics(t *testing.T, opts triggers.HistoryOptions) *Topics {
	t.Helper()
	c := testClient(t)
	prefix := fmt.Sprintf("edgefn-test-topics:%s:%d:", strings.NewReplacer("/", "-", " ", "-", "*", "-", "?", "-", "[", "-").Replace(t.Name()), time.Now().UnixNano())
	if p, loaded := testPrefixes.LoadOrStore(t, prefix); loaded {
		prefix = p.(string)
	} else {
		t.Cleanup(func() {
			testPrefixes.Delete(t)
			deletePrefix(t, c, prefix)
		})
	}
	tp, err := NewTopics(c, opts, TopicsOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

func deletePrefix(t *testing.T, c *goredis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err == nil && len(keys) > 0 {
		err = c.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Logf("cleanup: keys %s*: %v", prefix, err)
	}
}

func TestNewTopicsValidates(t *testing.T) {
	_, err := NewTopics(nil, triggers.HistoryOptions{TTL: time.Microsecond}, TopicsOptions{Prefix: "a{b"})
	for _, want := range []string{"client: required", "ttl:", "prefix:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewTopics with bad options: %v, want %q", err, want)
		}
	}
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialed
	defer c.Close()
	_, err = NewTopics(c, triggers.HistoryOptions{TTL: time.Hour}, TopicsOptions{MetaTTL: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "metaTTL:") {
		t.Errorf("NewTopics with a meta TTL under the history TTL: %v", err)
	}
	tp, err := NewTopics(c, triggers.HistoryOptions{TTL: 48 * time.Hour}, TopicsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tp.metaTTL != 48*time.Hour || tp.channel != DefaultTopicsPrefix+"pub" || tp.hist.Size != 100 {
		t.Errorf("defaults: meta TTL %s, channel %s, size %d", tp.metaTTL, tp.channel, tp.hist.Size)
	}
	if _, err := tp.PublishTopic(testkit.Context(t, time.Second), "", nil); err == nil {
		t.Error("publish to an empty topic accepted")
	}
}

// Meta and history expire, the history after the TTL and the meta much later; a read
// keeps the meta; the history holds Size entries exactly.
func TestTopicsKeys(t *testing.T) {
	tp := newTestTopics(t, triggers.HistoryOptions{Size: 3, TTL: time.Minute})
	ctx := testkit.Context(t, 10*time.Second)
	meta, hist := tp.keys("orders.1")[0], tp.keys("orders.1")[1]
	if _, _, _, err := tp.TopicHistory(ctx, "orders.1", nil); err != nil {
		t.Fatal(err)
	}
	if d := tp.client.PTTL(ctx, meta).Val(); d <= 23*time.Hour || d > 24*time.Hour {
		t.Errorf("meta TTL after a read of a new topic: %s, want 24h", d)
	}
	for i := range 5 {
		if _, err := tp.PublishTopic(ctx, "orders.1", []byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := tp.client.XLen(ctx, hist).Val(); n != 3 {
		t.Errorf("history holds %d entries, want size 3", n)
	}
	if d := tp.client.PTTL(ctx, hist).Val(); d <= 50*time.Second || d > time.Minute {
		t.Errorf("history TTL: %s, want 1m", d)
	}
	if d := tp.client.PTTL(ctx, meta).Val(); d <= 23*time.Hour {
		t.Errorf("meta TTL: %s, want 24h", d)
	}
}

// When the meta expires, whatever history is left belongs to a lost epoch: a position of
// that epoch is not recovered, the old entries are gone, and the next publication starts
// the new epoch at offset 1.
func TestTopicsMetaExpiryStartsNewEpoch(t *testing.T) {
	tp := newTestTopics(t, triggers.HistoryOptions{})
	ctx := testkit.Context(t, 10*time.Second)
	var old triggers.Position
	for i := range 3 {
		var err error
		if old, err = tp.PublishTopic(ctx, "t", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	meta, hist := tp.keys("t")[0], tp.keys("t")[1]
	tp.client.Del(ctx, meta) // as if it expired
	top, pubs, ok, err := tp.TopicHistory(ctx, "t", &triggers.Position{Epoch: old.Epoch, Offset: 1})
	if err != nil || ok || len(pubs) != 0 || top.Epoch == old.Epoch || top.Offset != 0 {
		t.Fatalf("after the meta expired: %+v, %d publications, recovered %v, %v; want a new epoch at 0, not recovered", top, len(pubs), ok, err)
	}
	if n := tp.client.Exists(ctx, hist).Val(); n != 0 {
		t.Errorf("the lost epoch's history is still there")
	}
	tp.client.Del(ctx, meta)
	p, err := tp.PublishTopic(ctx, "t", []byte("x"))
	if err != nil || p.Offset != 1 || p.Epoch == old.Epoch || p.Epoch == top.Epoch {
		t.Fatalf("publication after the meta expired again at %+v (%v), want offset 1 of a new epoch", p, err)
	}
	if n := tp.client.XLen(ctx, hist).Val(); n != 1 {
		t.Errorf("history of the new epoch holds %d entries, want 1", n)
	}
}

// A hole in the history (an entry gone for any reason) is never recovered around.
func TestTopicsNoRecoveryAcrossHole(t *testing.T) {
	tp := newTestTopics(t, triggers.HistoryOptions{})
	ctx := testkit.Context(t, 10*time.Second)
	var top triggers.Position
	for i := range 5 {
		var err error
		if top, err = tp.PublishTopic(ctx, "t", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	hist := tp.keys("t")[1]
	entries := tp.client.XRange(ctx, hist, "-", "+").Val()
	tp.client.XDel(ctx, hist, entries[2].ID) // offset 3
	since := triggers.Position{Epoch: top.Epoch, Offset: 1}
	if _, pubs, ok, err := tp.TopicHistory(ctx, "t", &since); err != nil || ok || len(pubs) != 0 {
		t.Fatalf("since 1 with offset 3 missing: %d publications, recovered %v, %v", len(pubs), ok, err)
	}
	since.Offset = 3
	if _, pubs, ok, err := tp.TopicHistory(ctx, "t", &since); err != nil || !ok || len(pubs) != 2 {
		t.Fatalf("since 3, after the hole: %d publications, recovered %v, %v", len(pubs), ok, err)
	}
}

// Entries age by the publish time they carry, on Redis' clock, not only by the key's TTL:
// a node with a shorter TTL than the publisher's stops recovering them.
func TestTopicsEntriesAgeByPublishTime(t *testing.T) {
	long := newTestTopics(t, triggers.HistoryOptions{TTL: time.Hour})
	short := newTestTopics(t, triggers.HistoryOptions{TTL: 100 * time.Millisecond})
	ctx := testkit.Context(t, 10*time.Second)
	first, err := long.PublishTopic(ctx, "t", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := long.PublishTopic(ctx, "t", []byte("2")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, pubs, ok, err := short.TopicHistory(ctx, "t", &first)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if len(pubs) != 1 || time.Now().After(deadline) {
			t.Fatalf("recovered %d publications; with a 100ms TTL they should age out", len(pubs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, pubs, ok, err := long.TopicHistory(ctx, "t", &first); err != nil || !ok || len(pubs) != 1 {
		t.Fatalf("with a 1h TTL: %d publications, recovered %v, %v", len(pubs), ok, err)
	}
}

// Topics and data may hold anything: spaces, braces, binary.
func TestTopicsOddNamesAndData(t *testing.T) {
	tp := newTestTopics(t, triggers.HistoryOptions{})
	ctx := testkit.Context(t, 10*time.Second)
	r := &chanListener{pubs: make(chan *triggers.Publication, 10)}
	if err := tp.ListenTopics(ctx, r); err != nil {
		t.Fatal(err)
	}
	// Not a publication of ours: ignored.
	if err := tp.client.Publish(ctx, tp.channel, "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ topic, data string }{
		{"a b}c{d", "x y\x00z\r\n$5\r\n"},
		{"t", ""},
	} {
		since, _, _, err := tp.TopicHistory(ctx, c.topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		pos, err := tp.PublishTopic(ctx, c.topic, []byte(c.data))
		if err != nil {
			t.Fatal(err)
		}
		p := <-r.pubs
		if p.Topic != c.topic || string(p.Data) != c.data || p.Position != pos {
			t.Errorf("heard %q %+v %q, want %q %+v %q", p.Topic, p.Position, p.Data, c.topic, pos, c.data)
		}
		_, pubs, ok, err := tp.TopicHistory(ctx, c.topic, &since)
		if err != nil || !ok || len(pubs) != 1 || pubs[0].Topic != c.topic || string(pubs[0].Data) != c.data {
			t.Errorf("history of %q: %v, recovered %v, %v", c.topic, pubs, ok, err)
		}
	}
}

func TestTopicsClose(t *testing.T) {
	tp := newTestTopics(t, triggers.HistoryOptions{})
	ctx := testkit.Context(t, 10*time.Second)
	r := &chanListener{pubs: make(chan *triggers.Publication, 10)}
	if err := tp.ListenTopics(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(tp.listeners); n != 0 {
		t.Errorf("%d listeners after Close", n)
	}
	if err := tp.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tp.ListenTopics(ctx, r); !errors.Is(err, ErrTopicsClosed) {
		t.Errorf("listen after Close: %v", err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	other := newTestTopics(t, triggers.HistoryOptions{})
	if err := other.ListenTopics(canceled, r); err == nil {
		t.Error("listen with a canceled context succeeded")
	}
}

func TestDecodePublication(t *testing.T) {
	p, err := decodePublication("e1 42 5 a b c{\"x\": 1}")
	if err != nil || p.Epoch != "e1" || p.Offset != 42 || p.Topic != "a b c" || string(p.Data) != `{"x": 1}` {
		t.Errorf("decoded %+v, %v", p, err)
	}
	if p, err := decodePublication("e 1 1 t"); err != nil || p.Topic != "t" || len(p.Data) != 0 {
		t.Errorf("empty data: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "garbage", "e x 1 t", "e 1 x t", "e 1 5 t", "e 1 0 t", " 1 1 t", "e -1 1 t"} {
		if _, err := decodePublication(bad); !errors.Is(err, errBadPayload) {
			t.Errorf("decode %q: %v, want errBadPayload", bad, err)
		}
	}
}

type chanListener struct{ pubs chan *triggers.Publication }

func (c *chanListener) Publication(p *triggers.Publication) { c.pubs <- p }
func (c *chanListener) Resync()                             {}
