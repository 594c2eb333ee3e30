package ws

import (
	"context"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

const shardCount = 64

// registry maps the topics this node's clients subscribe to onto their subscriptions. It
// is sharded by topic so that publishing to different topics does not contend on one lock.
type registry struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu     sync.RWMutex
	topics map[string]*topicSubs
}

// topicSubs are the subscriptions to one topic, and the position of the last publication
// delivered to them, which tells duplicates and gaps apart.
type topicSubs struct {
	topic string
	mu    sync.Mutex
	subs  map[*subscription]struct{}
	// list is subs as a slice, for the fan-out; nil when subs changed since it was made.
	list  []*subscription
	last  triggers.Position
	known bool // last is set
}

// subList returns t's subscriptions as a slice, made again after a change. t.mu is held.
func (t *topicSubs) subList() []*subscription {
	if t.list == nil && len(t.subs) > 0 {
		t.list = make([]*subscription, 0, len(t.subs))
		for sub := range t.subs {
			t.list = append(t.list, sub)
		}
	}
	return t.list
}

// subscription is one connection's subscription to one topic. Until its subscribe reply is
// out it is not live: publications that arrive meanwhile wait in pending, so that none is
// lost or sent twice between the history read and the live stream.
type subscription struct {
	conn    *conn
	topics  *topicSubs
	live    bool
	pending []*triggers.Publication
}

func (r *registry) init() {
	r.seed = maphash.MakeSeed()
	for i := range r.shards {
		r.shards[i].topics = map[string]*topicSubs{}
	}
}

func (r *registry) shard(topic string) *shard {
	return &r.shards[maphash.String(r.seed, topic)%shardCount]
}

func (r *registry) lookup(topic string) *topicSubs {
	s := r.shard(topic)
	s.mu.RLock()
	t := s.topics[topic]
	s.mu.RUnlock()
	return t
}

// add registers a (not yet live) subscription of c to topic.
func (r *registry) add(c *conn, topic string) *subscription {
	s := r.shard(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[topic]
	if t == nil {
		t = &topicSubs{topic: topic, subs: map[*subscription]struct{}{}}
		s.topics[topic] = t
	}
	sub := &subscription{conn: c, topics: t}
	t.mu.Lock()
	t.subs[sub] = struct{}{}
	t.list = nil
	t.mu.Unlock()
	return sub
}

// remove drops sub, and its topic when it was the last subscription.
func (r *registry) remove(sub *subscription) {
	t := sub.topics
	s := r.shard(t.topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	t.mu.Lock()
	delete(t.subs, sub)
	t.list = nil
	empty := len(t.subs) == 0
	t.mu.Unlock()
	if empty && s.topics[t.topic] == t {
		delete(s.topics, t.topic)
	}
}

// all returns every topic with subscriptions.
func (r *registry) all() []*topicSubs {
	var out []*topicSubs
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		for _, t := range s.topics {
			out = append(out, t)
		}
		s.mu.RUnlock()
	}
	return out
}

// Publication delivers a publication of any node to this node's subscribers
// (triggers.TopicListener).
func (h *Hub) Publication(p *triggers.Publication) {
	if t := h.registry.lookup(p.Topic); t != nil {
		h.deliver(t, p)
	}
}

// Resync reads what every subscribed topic may have missed while the backend's fan-out
// connection was down (triggers.TopicListener).
func (h *Hub) Resync() {
	for _, t := range h.registry.all() {
		t.mu.Lock()
		since, known := t.last, t.known
		t.mu.Unlock()
		if known {
			h.fillGap(t, since, nil)
		}
	}
}

// deliver sends p to t's subscribers, in offset order: a publication already delivered is
// dropped, and one that skips offsets makes the hub read the missing ones first.
func (h *Hub) deliver(t *topicSubs, p *triggers.Publication) {
	t.mu.Lock()
	if t.known && p.Epoch == t.last.Epoch {
		if p.Offset <= t.last.Offset {
			t.mu.Unlock()
			return
		}
		if p.Offset > t.last.Offset+1 {
			since := t.last
			t.mu.Unlock()
			h.fillGap(t, since, p)
			return
		}
	}
	h.deliverLocked(t, p)
	t.mu.Unlock()
}

// fanoutChunk is the fewest subscribers a fan-out goroutine is started for: a publication to
// more is written by several goroutines at once (up to GOMAXPROCS), which take fanoutBatch
// subscribers at a time until none is left, so that they finish together even when one of
// them gets less CPU than the others.
const (
	fanoutChunk = 256
	fanoutBatch = 64
)

// deliverLocked sends p to every subscriber of t; t.mu is held, which keeps a topic's
// publications in order. The frame is encoded once for all. Most subscribers get it with
// one direct write from here (sendFrame), so a large topic is split among goroutines that
// write at the same time; the call returns when every subscriber has it or has it queued.
func (h *Hub) deliverLocked(t *topicSubs, p *triggers.Publication) {
	t.last, t.known = p.Position, true
	subs := t.subList()
	if len(subs) > 0 {
		frame := textFrame(encodePublication(p))
		workers := min(runtime.GOMAXPROCS(0), len(subs)/fanoutChunk)
		if workers <= 1 {
			h.deliverTo(subs, p, frame)
		} else {
			var next atomic.Int64
			work := func() {
				for {
					lo := int(next.Add(fanoutBatch)) - fanoutBatch
					if lo >= len(subs) {
						return
					}
					h.deliverTo(subs[lo:min(lo+fanoutBatch, len(subs))], p, frame)
				}
			}
			var wg sync.WaitGroup
			for range workers - 1 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					work()
				}()
			}
			work()
			wg.Wait()
		}
	}
	h.publications.Add(context.Background(), 1)
}

// deliverTo sends frame (p's) to subs, or keeps p for those still subscribing. Each
// subscription is in one share only; the topic's lock is held by the caller.
func (h *Hub) deliverTo(subs []*subscription, p *triggers.Publication, frame []byte) {
	for _, sub := range subs {
		if !sub.live {
			if len(sub.pending) >= h.cfg.QueueMessages {
				if sub.conn.out.close(CloseSlow, "slow: too many publications while subscribing", true) {
					h.slowDisconnect(sub.conn)
				}
				continue
			}
			sub.pending = append(sub.pending, p)
			continue
		}
		sub.conn.sendFrame(frame)
	}
}

// fillGap reads the publications of t after since from the history and delivers them (and
// then p, when given). When the history no longer holds them, the subscribers cannot be
// brought up to date here: they are closed with 1012, reconnect, and their resubscribe
// tells them that recovery failed, so they reload rather than miss something silently.
func (h *Hub) fillGap(t *topicSubs, since triggers.Position, p *triggers.Publication) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, pubs, recovered, err := h.cfg.Topics.TopicHistory(ctx, t.topic, &since)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last != since {
		// Someone delivered meanwhile; deliver p if it is still new.
		if p != nil && (p.Epoch != t.last.Epoch || p.Offset > t.last.Offset) {
			h.deliverLocked(t, p)
		}
		return
	}
	if err == nil && recovered {
		for _, q := range pubs {
			h.deliverLocked(t, q)
		}
		if p != nil && p.Epoch == t.last.Epoch && p.Offset > t.last.Offset {
			h.deliverLocked(t, p)
		}
		return
	}
	h.cfg.Logger.Warn("websocket subscribers missed publications that the history no longer holds; asking them to resubscribe",
		"topic", t.topic, "since", since.Offset, "error", err)
	for sub := range t.subs {
		sub.conn.out.close(CloseRestart, "missed publications: resubscribe", true)
	}
	if p != nil {
		t.last = p.Position
	}
}
