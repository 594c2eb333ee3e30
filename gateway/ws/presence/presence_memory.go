package presence

import (
	"context"
	"slices"
	"sync"
)

// Memory keeps the members of one node's topics in memory; they never expire (the node is
// the only one, and tells of every leave).
type Memory struct {
	mu        sync.Mutex
	topics    map[string]map[string]Member
	listeners map[*Listener]struct{}
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{topics: map[string]map[string]Member{}, listeners: map[*Listener]struct{}{}}
}

func (s *Memory) announce(ev Event) {
	s.mu.Lock()
	ls := make([]Listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, *l)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l(ev)
	}
}

func (s *Memory) add(topic string, m Member) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[topic]
	if t == nil {
		t = map[string]Member{}
		s.topics[topic] = t
	}
	_, had := t[m.Client]
	t[m.Client] = m
	return !had
}

// Join adds m (Store).
func (s *Memory) Join(_ context.Context, topic string, m Member) error {
	if s.add(topic, m) {
		s.announce(Event{Topic: topic, Member: m})
	}
	return nil
}

// Leave removes client (Store).
func (s *Memory) Leave(_ context.Context, topic, client string) error {
	s.mu.Lock()
	t := s.topics[topic]
	m, had := t[client]
	delete(t, client)
	if len(t) == 0 {
		delete(s.topics, topic)
	}
	s.mu.Unlock()
	if had {
		s.announce(Event{Topic: topic, Leave: true, Member: m})
	}
	return nil
}

// Refresh adds back the members that are not there (Store); nothing expires here.
func (s *Memory) Refresh(_ context.Context, topic string, members []Member) error {
	for _, m := range members {
		if s.add(topic, m) {
			s.announce(Event{Topic: topic, Member: m})
		}
	}
	return nil
}

// Page returns a page of members (Store).
func (s *Memory) Page(_ context.Context, topic, after string, limit int) ([]Member, string, error) {
	if err := checkCursor(after); err != nil {
		return nil, "", err
	}
	limit = max(limit, 1)
	s.mu.Lock()
	t := s.topics[topic]
	ids := make([]string, 0, len(t))
	for id := range t {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	out := make([]Member, len(ids))
	for i, id := range ids {
		out[i] = t[id]
	}
	s.mu.Unlock()
	return out, next, nil
}

// Stats counts members and subjects (Store).
func (s *Memory) Stats(_ context.Context, topic string) (int, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[topic]
	subs := map[string]struct{}{}
	for _, m := range t {
		if m.Sub != "" {
			subs[m.Sub] = struct{}{}
		}
	}
	return len(t), len(subs), nil
}

// Listen registers l until ctx ends (Store).
func (s *Memory) Listen(ctx context.Context, l Listener) error {
	key := &l
	s.mu.Lock()
	s.listeners[key] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		delete(s.listeners, key)
		s.mu.Unlock()
	})
	return nil
}
