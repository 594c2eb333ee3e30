package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/edgefn/edgefn/gateway/ws/presence"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// Presence (docs/websocket.md#presence): a subscriber of a topic whose rule sets `presence:
// true` is a member of the topic in the presence store from its subscribe until its
// unsubscribe or disconnect. The hub keeps its own members per topic (localTopic) and
// refreshes them in the store every PresenceRefresh, which in Redis keeps them from expiring
// and prunes the members of nodes that died; join and leave events of every node reach the
// subscribers of `joinLeave` topics, as frames of their own that no history keeps.

// Presence defaults (docs/websocket.md#presence).
const (
	// PresencePage is the most clients of one presence reply.
	PresencePage = 100
	// MaxAdminPresencePage is the most clients of one page of the admin API.
	MaxAdminPresencePage = 1000
	// DefaultPresenceRefresh is how often a node refreshes its members.
	DefaultPresenceRefresh = 5 * time.Second
	// PresenceTTLFactor: a member expires PresenceTTLFactor × the refresh interval after its
	// node's last refresh.
	PresenceTTLFactor = 3
)

// localTopic is this node's members of one topic. mu serializes the store calls for them, so
// that a refresh never adds back a member that just left.
type localTopic struct {
	mu      sync.Mutex
	members map[string]presence.Member
	dead    bool // removed from the hub's map: take the topic again
}

// localPresence is this node's members, by topic.
type localPresence struct {
	mu     sync.Mutex
	topics map[string]*localTopic
}

// topic returns the localTopic of name, made when missing, locked.
func (p *localPresence) topic(name string) *localTopic {
	for {
		p.mu.Lock()
		lt := p.topics[name]
		if lt == nil {
			lt = &localTopic{members: map[string]presence.Member{}}
			p.topics[name] = lt
		}
		p.mu.Unlock()
		lt.mu.Lock()
		if !lt.dead {
			return lt
		}
		lt.mu.Unlock()
	}
}

// release unlocks lt, dropping it from the map when it has no member.
func (p *localPresence) release(name string, lt *localTopic) {
	if len(lt.members) > 0 {
		lt.mu.Unlock()
		return
	}
	lt.dead = true
	lt.mu.Unlock()
	p.mu.Lock()
	if p.topics[name] == lt {
		delete(p.topics, name)
	}
	p.mu.Unlock()
}

// rule returns the first topic rule that matches topic, or nil.
func (h *Hub) rule(topic string) *manifest.TopicRule {
	for _, r := range *h.rules.Load() {
		if _, ok := r.MatchTopic(topic); ok {
			return r
		}
	}
	return nil
}

// StartPresence listens to the join and leave events of every node and refreshes this node's
// members every PresenceRefresh, until ctx ends; WaitPresence then waits for the refreshes.
func (h *Hub) StartPresence(ctx context.Context) error {
	if err := h.cfg.Presence.Listen(ctx, h.presenceEvent); err != nil {
		return err
	}
	h.presenceWG.Add(1)
	go func() {
		defer h.presenceWG.Done()
		h.refreshLoop(ctx)
	}()
	return nil
}

// WaitPresence waits until the refreshes StartPresence started stopped, once its ctx ended.
func (h *Hub) WaitPresence() { h.presenceWG.Wait() }

func (h *Hub) refreshLoop(ctx context.Context) {
	tick := time.NewTicker(h.cfg.PresenceRefresh)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := h.refreshPresence(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			h.cfg.Logger.Warn("presence: refreshing this node's members failed", "error", err)
		case err == nil && failing:
			h.cfg.Logger.Info("presence: refreshing this node's members again")
		}
		failing = err != nil
	}
}

// refreshPresence refreshes this node's members of every topic once.
func (h *Hub) refreshPresence(ctx context.Context) error {
	h.presence.mu.Lock()
	names := make([]string, 0, len(h.presence.topics))
	for name := range h.presence.topics {
		names = append(names, name)
	}
	h.presence.mu.Unlock()
	var errs []error
	for _, name := range names {
		lt := h.presence.topic(name)
		members := make([]presence.Member, 0, len(lt.members))
		for _, m := range lt.members {
			members = append(members, m)
		}
		if len(members) > 0 {
			rctx, cancel := context.WithTimeout(ctx, h.cfg.PresenceRefresh)
			if err := h.cfg.Presence.Refresh(rctx, name, members); err != nil {
				errs = append(errs, err)
			}
			cancel()
		}
		h.presence.release(name, lt)
	}
	return errors.Join(errs...)
}

// joinPresence makes c a member of topic, when its rule keeps presence. A store that fails
// is logged: the next refresh adds the member.
func (c *conn) joinPresence(topic string) {
	rule := c.hub.rule(topic)
	if rule == nil || !rule.Presence {
		return
	}
	c.mu.Lock()
	if c.presence == nil {
		c.presence = map[string]struct{}{}
	}
	c.presence[topic] = struct{}{}
	m := presence.Member{Client: c.id, Info: c.info}
	m.Sub, _ = c.claims["sub"].(string)
	c.mu.Unlock()
	h := c.hub
	lt := h.presence.topic(topic)
	if _, had := lt.members[c.id]; !had {
		h.presenceMembers.Add(context.Background(), 1)
	}
	lt.members[c.id] = m
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := h.cfg.Presence.Join(ctx, topic, m)
	cancel()
	h.presence.release(topic, lt)
	if err != nil {
		h.cfg.Logger.Warn("presence: join failed; the next refresh adds it", "topic", topic, "client", c.id, "error", err)
	}
}

// leavePresence ends c's membership of topic, if any.
func (c *conn) leavePresence(topic string) {
	c.mu.Lock()
	_, ok := c.presence[topic]
	delete(c.presence, topic)
	c.mu.Unlock()
	if !ok {
		return
	}
	h := c.hub
	lt := h.presence.topic(topic)
	if _, had := lt.members[c.id]; had {
		h.presenceMembers.Add(context.Background(), -1)
		delete(lt.members, c.id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := h.cfg.Presence.Leave(ctx, topic, c.id)
	cancel()
	h.presence.release(topic, lt)
	if err != nil {
		h.cfg.Logger.Warn("presence: leave failed; the member expires", "topic", topic, "client", c.id, "error", err)
	}
}

// leaveAllPresence ends every membership of c, when it disconnected.
func (c *conn) leaveAllPresence() {
	c.mu.Lock()
	topics := make([]string, 0, len(c.presence))
	for t := range c.presence {
		topics = append(topics, t)
	}
	c.mu.Unlock()
	for _, t := range topics {
		c.leavePresence(t)
	}
}

// presenceEvent sends a join or leave of any node to this node's subscribers of its topic,
// when the topic's rule sets joinLeave (presence.Listener).
func (h *Hub) presenceEvent(ev presence.Event) {
	if r := h.rule(ev.Topic); r == nil || !r.JoinLeave {
		return
	}
	t := h.registry.lookup(ev.Topic)
	if t == nil {
		return
	}
	frame := textFrame(presence.EncodeEvent(ev))
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sub := range t.subList() {
		if sub.live {
			sub.conn.sendFrame(frame)
		}
	}
}

// presenceAllowed checks a presence op: the client may subscribe to topic, and its rule
// keeps presence.
func (c *conn) presenceAllowed(topic string) *replyError {
	if rerr := c.hub.allow(c.ctx, topic, c.currentClaims(), false); rerr != nil {
		return rerr
	}
	if r := c.hub.rule(topic); r == nil || !r.Presence {
		return errReply(codeForbidden, "no presence on "+topic+": its topic rule does not set presence")
	}
	return nil
}

// presenceOp answers a presence op: a page of the topic's clients, and the cursor of the
// next page when there is one.
func (c *conn) presenceOp(r *request) *reply {
	if rerr := c.presenceAllowed(r.Topic); rerr != nil {
		return &reply{err: rerr}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	members, next, err := c.hub.cfg.Presence.Page(ctx, r.Topic, r.Cursor, PresencePage)
	if errors.Is(err, presence.ErrBadCursor) {
		return &reply{err: errReply(codeBadRequest, err.Error())}
	}
	if err != nil {
		c.hub.cfg.Logger.Warn("websocket presence unavailable", "topic", r.Topic, "error", err)
		return &reply{err: errReply(codeUnavailable, "the presence cannot be read; try again")}
	}
	return &reply{ok: true, raw: encodeMembers(members, next)}
}

// presenceStats answers a presence_stats op.
func (c *conn) presenceStats(r *request) *reply {
	if rerr := c.presenceAllowed(r.Topic); rerr != nil {
		return &reply{err: rerr}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	clients, users, err := c.hub.cfg.Presence.Stats(ctx, r.Topic)
	if err != nil {
		c.hub.cfg.Logger.Warn("websocket presence unavailable", "topic", r.Topic, "error", err)
		return &reply{err: errReply(codeUnavailable, "the presence cannot be read; try again")}
	}
	b := append([]byte(`,"clients":`), strconv.Itoa(clients)...)
	b = append(b, `,"users":`...)
	b = append(b, strconv.Itoa(users)...)
	return &reply{ok: true, raw: b}
}

// encodeMembers is the fields of a presence reply: ,"members":[...] and ,"cursor":"..".
func encodeMembers(members []presence.Member, next string) []byte {
	b := []byte(`,"members":[`)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, presence.EncodeMember(m)...)
	}
	b = append(b, ']')
	if next != "" {
		b = append(b, `,"cursor":`...)
		b = appendString(b, next)
	}
	return b
}

// ErrInvalidTopic is wrapped by the error of Presence for a malformed topic.
var ErrInvalidTopic = errors.New("invalid topic")

// PresenceView is what the admin API shows of a topic's presence
// (docs/websocket.md#presence).
type PresenceView struct {
	Topic   string            `json:"topic"`
	Members []presence.Member `json:"members"`
	Cursor  string            `json:"cursor,omitempty"`
	Stats   struct {
		Clients int `json:"clients"`
		Users   int `json:"users"`
	} `json:"stats"`
}

// Presence reads a page of at most limit (1 to MaxAdminPresencePage; 0: PresencePage) clients
// of topic after cursor, and the topic's counts, for the admin API. A topic no rule keeps
// presence of has none. Errors wrap ErrInvalidPublication for a bad topic and
// presence.ErrBadCursor for a bad cursor.
func (h *Hub) Presence(ctx context.Context, topic, cursor string, limit int) (*PresenceView, error) {
	if p := topicProblem(topic); p != "" {
		return nil, fmt.Errorf("%w: %s", ErrInvalidTopic, p)
	}
	if limit <= 0 {
		limit = PresencePage
	}
	limit = min(limit, MaxAdminPresencePage)
	members, next, err := h.cfg.Presence.Page(ctx, topic, cursor, limit)
	if err != nil {
		return nil, err
	}
	v := &PresenceView{Topic: topic, Members: members, Cursor: next}
	if v.Members == nil {
		v.Members = []presence.Member{}
	}
	if v.Stats.Clients, v.Stats.Users, err = h.cfg.Presence.Stats(ctx, topic); err != nil {
		return nil, err
	}
	return v, nil
}

var _ runtime.HostCaller = (*Hub)(nil)

// HostCall answers a function's presence read (fn.Presence, fn.PresenceStats;
// runtime.HostCaller): {"op":"presence","topic":..,"cursor":..} gets a page of at most
// MaxAdminPresencePage members, {"op":"presence_stats","topic":..} the counts. Functions may
// read any topic, as the admin API may.
func (h *Hub) HostCall(ctx context.Context, function string, req []byte) []byte {
	var r struct{ Op, Topic, Cursor string }
	fail := func(msg string) []byte {
		b, _ := json.Marshal(map[string]string{"error": msg})
		return b
	}
	if err := json.Unmarshal(req, &r); err != nil {
		return fail("bad host call: " + err.Error())
	}
	var out any
	switch r.Op {
	case "presence":
		v, err := h.Presence(ctx, r.Topic, r.Cursor, MaxAdminPresencePage)
		if err != nil {
			h.cfg.Logger.Warn("presence read of a function failed", "function", function, "topic", r.Topic, "error", err)
			return fail(err.Error())
		}
		out = struct {
			Members []presence.Member `json:"members"`
			Cursor  string            `json:"cursor,omitempty"`
		}{v.Members, v.Cursor}
	case "presence_stats":
		if p := topicProblem(r.Topic); p != "" {
			return fail(p)
		}
		clients, users, err := h.cfg.Presence.Stats(ctx, r.Topic)
		if err != nil {
			return fail(err.Error())
		}
		out = map[string]int{"clients": clients, "users": users}
	default:
		return fail("unknown host call " + quote(r.Op))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fail(err.Error())
	}
	return b
}
