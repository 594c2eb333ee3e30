package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/triggers"
)

var (
	_ triggers.Topics = (*Topics)(nil)
	_ triggers.Pinger = (*Topics)(nil)
)

const (
	// DefaultTopicsPrefix is TopicsOptions.Prefix when it is empty.
	DefaultTopicsPrefix = "edgefn:topics:"
	// minMetaTTL is the least default TopicsOptions.MetaTTL.
	minMetaTTL = 24 * time.Hour
)

// ErrTopicsClosed is returned (wrapped) by ListenTopics after Close.
var ErrTopicsClosed = errors.New("redis topics closed")

// TopicsOptions tune the Redis topics backend. The zero value means the defaults.
type TopicsOptions struct {
	// Prefix starts every key and the fan-out channel, so that deployments can share a
	// Redis; default DefaultTopicsPrefix. It must not contain '{' or '}': a topic's keys
	// share a slot through the hash tag {<topic>}.
	Prefix string
	// MetaTTL is how long a topic's epoch and offset outlive its last publication or history
	// read. When they expire the topic starts a new epoch, and every client's position
	// becomes unrecoverable, even one that missed nothing: so they live much longer than the
	// history, for clients that stay connected to a quiet topic for hours. Default the
	// larger of 24h and the history TTL; it may not be shorter than the history TTL.
	MetaTTL time.Duration
}

// Topics is the WebSocket fan-out backend on Redis: every node publishes through it and
// hears every node's publications. It implements [triggers.Topics] and [triggers.Pinger].
// It does not own its client: whoever created the client closes it, after Close.
type Topics struct {
	client  *goredis.Client
	hist    triggers.HistoryOptions
	prefix  string
	channel string
	metaTTL time.Duration
	// pingEvery is the listeners' silence before a ping: pingEvery, shorter in tests.
	pingEvery time.Duration

	mu        sync.Mutex // guards closed and listeners
	closed    bool
	listeners map[*listener]struct{}
	wg        sync.WaitGroup // one slot per listener goroutine
}

// NewTopics returns the backend on client; zero history options mean the defaults of
// [triggers.HistoryOptions]. It does no I/O.
func NewTopics(client *goredis.Client, history triggers.HistoryOptions, opts TopicsOptions) (*Topics, error) {
	history = history.WithDefaults()
	var errs []error
	if client == nil {
		errs = append(errs, errors.New("client: required"))
	}
	if history.TTL < time.Millisecond {
		errs = append(errs, fmt.Errorf("ttl: %s is under 1ms", history.TTL))
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultTopicsPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		errs = append(errs, fmt.Errorf("prefix: %q contains '{' or '}'", opts.Prefix))
	}
	if opts.MetaTTL == 0 {
		opts.MetaTTL = max(minMetaTTL, history.TTL)
	}
	if opts.MetaTTL < history.TTL {
		errs = append(errs, fmt.Errorf("metaTTL: %s is shorter than the history TTL %s", opts.MetaTTL, history.TTL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("redis topics: %w", err)
	}
	return &Topics{
		client:    client,
		hist:      history,
		prefix:    opts.Prefix,
		channel:   opts.Prefix + "pub",
		metaTTL:   opts.MetaTTL,
		pingEvery: pingEvery,
		listeners: map[*listener]struct{}{},
	}, nil
}

// Ping returns nil while Redis answers.
func (t *Topics) Ping(ctx context.Context) error {
	if err := t.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis topics: ping: %w", err)
	}
	return nil
}

// PublishTopic numbers data in topic's epoch, keeps it in the topic's history and
// publishes it to every node, in one script.
func (t *Topics) PublishTopic(ctx context.Context, topic string, data []byte) (triggers.Position, error) {
	if topic == "" {
		return triggers.Position{}, errors.New("redis topics: publish: empty topic")
	}
	res, err := publishScript.Run(ctx, t.client, t.keys(topic),
		newEpoch(), data, t.hist.Size, t.hist.TTL.Milliseconds(), t.metaTTL.Milliseconds(), t.channel, topic).Slice()
	if err != nil {
		return triggers.Position{}, fmt.Errorf("redis topics: publish %q: %w", topic, err)
	}
	pos, err := parsePosition(res)
	if err != nil {
		return triggers.Position{}, fmt.Errorf("redis topics: publish %q: %w", topic, err)
	}
	return pos, nil
}

// TopicHistory returns topic's position, starting an epoch when the topic has none, and,
// when since is set, the publications after it if the history still holds every one of
// them within the TTL. A read keeps the topic's epoch for MetaTTL.
func (t *Topics) TopicHistory(ctx context.Context, topic string, since *triggers.Position) (triggers.Position, []*triggers.Publication, bool, error) {
	fail := func(err error) (triggers.Position, []*triggers.Publication, bool, error) {
		return triggers.Position{}, nil, false, fmt.Errorf("redis topics: history %q: %w", topic, err)
	}
	if topic == "" {
		return fail(errors.New("empty topic"))
	}
	var sinceEpoch, sinceOffset string
	if since != nil {
		sinceEpoch, sinceOffset = since.Epoch, strconv.FormatUint(since.Offset, 10)
	}
	res, err := historyScript.Run(ctx, t.client, t.keys(topic),
		newEpoch(), t.metaTTL.Milliseconds(), sinceEpoch, sinceOffset, t.hist.Size).Slice()
	if err != nil {
		return fail(err)
	}
	top, err := parsePosition(res)
	if err != nil {
		return fail(err)
	}
	if since == nil {
		return top, nil, false, nil
	}
	if len(res) != 4 {
		return fail(fmt.Errorf("script reply of %d elements", len(res)))
	}
	now, _ := res[2].(string)
	nowMs, err := strconv.ParseInt(now, 10, 64)
	if err != nil {
		return fail(fmt.Errorf("script time %v: %w", res[2], err))
	}
	entries, err := parseEntries(res[3])
	if err != nil {
		return fail(err)
	}
	pubs, ok := t.after(topic, top, *since, entries, nowMs)
	return top, pubs, ok, nil
}

// after returns the publications after since, oldest first, when entries (newest first)
// are all of them and none has outlived the TTL; otherwise nothing and false.
func (t *Topics) after(topic string, top, since triggers.Position, entries []historyEntry, nowMs int64) ([]*triggers.Publication, bool) {
	switch {
	case since.Epoch != top.Epoch || since.Offset > top.Offset:
		return nil, false
	case since.Offset == top.Offset:
		return nil, true
	case uint64(len(entries)) != top.Offset-since.Offset:
		return nil, false
	}
	pubs := make([]*triggers.Publication, len(entries))
	for i, e := range entries {
		if e.offset != top.Offset-uint64(i) || nowMs-e.ms >= t.hist.TTL.Milliseconds() {
			return nil, false
		}
		pubs[i] = &triggers.Publication{Topic: topic, Position: triggers.Position{Epoch: top.Epoch, Offset: e.offset}, Data: []byte(e.data)}
	}
	slices.Reverse(pubs)
	return pubs, true
}

// Close stops every listener and waits for their goroutines; later ListenTopics calls
// fail. It is idempotent.
func (t *Topics) Close() error {
	t.mu.Lock()
	t.closed = true
	ls := make([]*listener, 0, len(t.listeners))
	for l := range t.listeners {
		ls = append(ls, l)
	}
	t.mu.Unlock()
	for _, l := range ls {
		l.stop()
	}
	t.wg.Wait()
	return nil
}

// keys returns the meta hash and history stream of topic, which share a slot.
func (t *Topics) keys(topic string) []string {
	tag := t.prefix + "{" + topic + "}"
	return []string{tag + ":meta", tag + ":h"}
}

// newEpoch returns 64 random bits in hex, the epoch a script starts when a topic has none:
// a topic whose meta expired must not get its old epoch back, or a client's old position
// would "recover" the new history.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}
