package dispatch

import (
	"container/heap"
	"context"
	"strconv"
	"sync"
	"time"
)

// MemoryClaims are the Claims and ScheduleStore of a node alone (no --redis): it is the only
// one to run its instants, and its pauses and last instants last as long as the process.
// The map holds one claim per trigger and instant of the last ttl; expired claims leave it in
// the order they expire (a heap), a few at each claim, never by a scan of the whole map, which
// would hold every tick of a thousand triggers behind it.
type MemoryClaims struct {
	mu     sync.Mutex
	claims map[string]memoryClaim
	expiry expiryHeap
	seq    uint64
	now    func() time.Time
	paused map[string]bool
	last   map[string]time.Time // by function and index
}

type memoryClaim struct {
	owner string
	until time.Time
	seq   uint64 // tells this claim's expiry entry from those of earlier claims of its key
}

// expiring is a claim's entry in the expiry heap.
type expiring struct {
	key   string
	until time.Time
	seq   uint64
}

// expiryHeap orders claims by when they expire.
type expiryHeap []expiring

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiring)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

var (
	_ Claims        = (*MemoryClaims)(nil)
	_ ScheduleStore = (*MemoryClaims)(nil)
)

// NewMemoryClaims returns empty claims.
func NewMemoryClaims() *MemoryClaims {
	return &MemoryClaims{claims: map[string]memoryClaim{}, now: time.Now, paused: map[string]bool{}, last: map[string]time.Time{}}
}

// Claim implements Claims.
func (m *MemoryClaims) Claim(_ context.Context, key, owner string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claim(key, owner, ttl), nil
}

func (m *MemoryClaims) claim(key, owner string, ttl time.Duration) bool {
	now := m.now()
	for len(m.expiry) > 0 && !now.Before(m.expiry[0].until) {
		e := heap.Pop(&m.expiry).(expiring)
		if c, ok := m.claims[e.key]; ok && c.seq == e.seq {
			delete(m.claims, e.key)
		}
	}
	if c, ok := m.claims[key]; ok && now.Before(c.until) {
		return false
	}
	m.seq++
	c := memoryClaim{owner: owner, until: now.Add(ttl), seq: m.seq}
	m.claims[key] = c
	heap.Push(&m.expiry, expiring{key: key, until: c.until, seq: c.seq})
	return true
}

// Release implements Claims.
func (m *MemoryClaims) Release(_ context.Context, key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.claims[key]; ok && c.owner == owner {
		delete(m.claims, key)
	}
	return nil
}

// Fire implements ScheduleStore.
func (m *MemoryClaims) Fire(_ context.Context, owner string, ttl time.Duration, ticks ...Tick) ([]Fired, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Fired, len(ticks))
	for i, t := range ticks {
		out[i] = m.fire(owner, ttl, t)
	}
	return out, nil
}

func (m *MemoryClaims) fire(owner string, ttl time.Duration, t Tick) Fired {
	unix := strconv.FormatInt(t.At.Unix(), 10)
	paused := m.paused[t.Function]
	if !paused && !m.claim(ScheduleKey(t.Function, t.Index, unix), owner+"/"+unix, ttl) {
		return FiredElsewhere
	}
	k := ScheduleKey(t.Function, t.Index, "last")
	if t.At.After(m.last[k]) {
		m.last[k] = t.At
	}
	switch {
	case paused:
		return FiredPaused
	case t.LockTTL > 0 && !m.claim(RunLockKey(t.Function, t.Index), RunLockOwner(t.At), t.LockTTL):
		return FiredBusy
	}
	return FiredTaken
}

// Last implements ScheduleStore.
func (m *MemoryClaims) Last(_ context.Context, function string, index int) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[ScheduleKey(function, index, "last")], nil
}

// SetPaused implements ScheduleStore.
func (m *MemoryClaims) SetPaused(_ context.Context, function string, paused bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if paused {
		m.paused[function] = true
	} else {
		delete(m.paused, function)
	}
	return nil
}

// Paused implements ScheduleStore.
func (m *MemoryClaims) Paused(_ context.Context, function string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused[function], nil
}
