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
	topics    map[string]*memTopic
	listeners map[*Listener]struct{}
}

// memTopic is the members of one topic, and their IDs in order for the pages.
type memTopic struct {
	members map[string]Member
	ids     []string
	users   map[string]int // non-empty subs → how many members have it
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{topics: map[string]*memTopic{}, listeners: map[*Listener]struct{}{}}
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
		t = &memTopic{members: map[string]Member{}, users: map[string]int{}}
		s.topics[topic] = t
	}
	_, had := t.members[m.Client]
	t.members[m.Client] = m
	if !had {
		i, _ := slices.BinarySearch(t.ids, m.Client)
		t.ids = slices.Insert(t.ids, i, m.Client)
		if m.Sub != "" {
			t.users[m.Sub]++
		}
	}
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
	var m Member
	had := false
	if t := s.topics[topic]; t != nil {
		if m, had = t.members[client]; had {
			delete(t.members, client)
			i, _ := slices.BinarySearch(t.ids, client)
			t.ids = slices.Delete(t.ids, i, i+1)
			if m.Sub != "" {
				if t.users[m.Sub]--; t.users[m.Sub] <= 0 {
					delete(t.users, m.Sub)
				}
			}
		}
		if len(t.members) == 0 {
			delete(s.topics, topic)
		}
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
	defer s.mu.Unlock()
	t := s.topics[topic]
	if t == nil {
		return nil, "", nil
	}
	i, found := slices.BinarySearch(t.ids, after)
	if found {
		i++
	}
	ids := t.ids[i:]
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	out := make([]Member, len(ids))
	for i, id := range ids {
		out[i] = t.members[id]
	}
	return out, next, nil
}

// Stats counts members and subjects (Store).
func (s *Memory) Stats(_ context.Context, topic string) (int, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[topic]
	if t == nil {
		return 0, 0, nil
	}
	return len(t.members), len(t.users), nil
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
