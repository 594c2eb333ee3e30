package memory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

var _ triggers.Topics = (*Topics)(nil)

// ErrTopicsClosed is returned (wrapped) by every method of Topics after Close.
var ErrTopicsClosed = errors.New("memory topics closed")

// topicShards spreads topics over locks, so that publishers of different topics seldom wait
// for each other.
const topicShards = 32

// Topics is the embedded [triggers.Topics] backend: the WebSocket fan-out of one process.
// Each topic keeps an epoch (random, new with every process and every topic that was
// forgotten), an offset counter and its last HistoryOptions.Size publications, each for
// HistoryOptions.TTL.
//
// A topic that has no publication and no history read for longer than TTL is forgotten,
// so memory follows the topics in use rather than every topic ever named. The sweep is
// lazy: a shard looks for such topics when it is used, at most once per TTL. Topics runs
// no goroutines. It is safe for concurrent use.
type Topics struct {
	opts   triggers.HistoryOptions
	seed   maphash.Seed
	shards [topicShards]topicShard
	closed atomic.Bool

	lmu       sync.Mutex                       // serializes changes to listeners
	listeners atomic.Pointer[[]*topicListener] // copy on write, read by every publication
}

type topicShard struct {
	mu     sync.Mutex
	topics map[string]*topicState
	swept  time.Time // last look for topics to forget
}

type topicState struct {
	epoch  string
	offset uint64
	used   time.Time // last publication or history read
	held   ring[heldPublication]
	// delivered is closed once the latest publication has reached the listeners. Each
	// publication takes its predecessor's channel and leaves its own, under the shard's
	// lock, then waits for it without any lock: publications reach listeners in offset
	// order, and a listener may read history meanwhile.
	delivered chan struct{}
}

type heldPublication struct {
	pub *triggers.Publication
	at  time.Time
}

type topicListener struct {
	ctx  context.Context
	l    triggers.TopicListener
	stop func() bool // unregisters the removal on ctx end
}

// NewTopics returns an empty backend; zero options mean the defaults of
// [triggers.HistoryOptions].
func NewTopics(opts triggers.HistoryOptions) *Topics {
	t := &Topics{opts: opts.WithDefaults(), seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].topics = map[string]*topicState{}
	}
	t.listeners.Store(&[]*topicListener{})
	return t
}

// Close forgets every topic and listener; later calls return ErrTopicsClosed. There is no
// goroutine to wait for. Close is idempotent.
func (t *Topics) Close() error {
	t.lmu.Lock()
	if t.closed.Swap(true) {
		t.lmu.Unlock()
		return nil
	}
	for _, r := range *t.listeners.Load() {
		r.stop()
	}
	t.listeners.Store(&[]*topicListener{})
	t.lmu.Unlock()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.topics = nil
		s.mu.Unlock()
	}
	return nil
}

// PublishTopic appends a copy of data to topic's history and hands the publication to
// every listener before it returns, after the topic's earlier publications.
func (t *Topics) PublishTopic(_ context.Context, topic string, data []byte) (triggers.Position, error) {
	p := &triggers.Publication{Topic: topic, Data: bytes.Clone(data)}
	now := time.Now()
	s := t.shard(topic)
	s.mu.Lock()
	st := t.state(s, topic, now)
	if st == nil {
		s.mu.Unlock()
		return triggers.Position{}, fmt.Errorf("memory topics: publish %q: %w", topic, ErrTopicsClosed)
	}
	st.offset++
	p.Position = triggers.Position{Epoch: st.epoch, Offset: st.offset}
	st.used = now
	st.held.pushBack(heldPublication{pub: p, at: now})
	if st.held.len() > t.opts.Size {
		st.held.popFront()
	}
	prev, mine := st.delivered, make(chan struct{})
	st.delivered = mine
	s.mu.Unlock()
	<-prev
	defer close(mine)
	for _, r := range *t.listeners.Load() {
		if r.ctx.Err() == nil {
			r.l.Publication(p)
		}
	}
	return p.Position, nil
}

// TopicHistory returns topic's position, starting a new epoch when the topic is unknown,
// and, when since is set, the publications after it if the history holds all of them.
// A read keeps the topic (and its epoch) for at least TTL.
func (t *Topics) TopicHistory(_ context.Context, topic string, since *triggers.Position) (triggers.Position, []*triggers.Publication, bool, error) {
	now := time.Now()
	s := t.shard(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := t.state(s, topic, now)
	if st == nil {
		return triggers.Position{}, nil, false, fmt.Errorf("memory topics: history %q: %w", topic, ErrTopicsClosed)
	}
	st.used = now
	st.expire(now, t.opts.TTL)
	top := triggers.Position{Epoch: st.epoch, Offset: st.offset}
	if since == nil {
		return top, nil, false, nil
	}
	pubs, ok := st.after(*since)
	return top, pubs, ok, nil
}

// ListenTopics registers l; it is called for every publication that starts after
// ListenTopics returns, until ctx ends or Topics is closed. Listeners are called from the
// publishing goroutine, one publication of a topic at a time, the next one waiting: a
// listener may read history, but one that publishes to the topic it is handed waits for
// itself.
func (t *Topics) ListenTopics(ctx context.Context, l triggers.TopicListener) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory topics: listen: %w", err)
	}
	r := &topicListener{ctx: ctx, l: l}
	t.lmu.Lock()
	defer t.lmu.Unlock()
	if t.closed.Load() {
		return fmt.Errorf("memory topics: listen: %w", ErrTopicsClosed)
	}
	t.listeners.Store(new(append(slices.Clone(*t.listeners.Load()), r)))
	r.stop = context.AfterFunc(ctx, func() { t.forget(r) })
	return nil
}

// forget removes a listener whose context ended.
func (t *Topics) forget(r *topicListener) {
	t.lmu.Lock()
	defer t.lmu.Unlock()
	ls := *t.listeners.Load()
	if i := slices.Index(ls, r); i >= 0 {
		t.listeners.Store(new(slices.Delete(slices.Clone(ls), i, i+1)))
	}
}

func (t *Topics) shard(topic string) *topicShard {
	return &t.shards[maphash.String(t.seed, topic)%topicShards]
}

// state returns topic's state, creating it with a new epoch; nil after Close. The shard
// must be locked. It is also where the shard forgets its idle topics.
func (t *Topics) state(s *topicShard, topic string, now time.Time) *topicState {
	if s.topics == nil {
		return nil
	}
	if now.Sub(s.swept) >= t.opts.TTL {
		s.swept = now
		for name, st := range s.topics {
			st.expire(now, t.opts.TTL)
			if st.held.len() == 0 && now.Sub(st.used) > t.opts.TTL {
				delete(s.topics, name)
			}
		}
	}
	st := s.topics[topic]
	if st == nil {
		st = &topicState{epoch: newEpoch(), used: now, delivered: closedChan}
		s.topics[topic] = st
	}
	return st
}

// closedChan is the delivered channel of a topic without publications.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// expire drops the publications older than ttl.
func (st *topicState) expire(now time.Time, ttl time.Duration) {
	for st.held.len() > 0 && now.Sub(st.held.at(0).at) >= ttl {
		st.held.popFront()
	}
}

// after returns the publications after since, and whether that is all of them: since is
// in the current epoch, not ahead of it, and every later offset is still held.
func (st *topicState) after(since triggers.Position) ([]*triggers.Publication, bool) {
	switch {
	case since.Epoch != st.epoch || since.Offset > st.offset:
		return nil, false
	case since.Offset == st.offset:
		return nil, true
	}
	n := uint64(st.held.len())
	missed := st.offset - since.Offset
	if missed > n {
		return nil, false
	}
	pubs := make([]*triggers.Publication, 0, missed)
	for i := n - missed; i < n; i++ {
		pubs = append(pubs, st.held.at(int(i)).pub)
	}
	return pubs, true
}

// newEpoch returns 64 random bits in hex: a topic forgotten and started again must not
// get its old epoch back, or a client's old position would "recover" the new history.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}
