package dispatch

import (
	"context"
	"sync"
	"time"
)

// MemoryClaims are the Claims of a node alone (no --redis): it is the only one to run its
// instants. Expired claims are dropped at most every few seconds, so the map holds about
// one claim per trigger and instant of the last ttl.
type MemoryClaims struct {
	mu     sync.Mutex
	claims map[string]memoryClaim
	purged time.Time
	now    func() time.Time
}

type memoryClaim struct {
	owner string
	until time.Time
}

var _ Claims = (*MemoryClaims)(nil)

// NewMemoryClaims returns empty claims.
func NewMemoryClaims() *MemoryClaims {
	return &MemoryClaims{claims: map[string]memoryClaim{}, now: time.Now}
}

// Claim implements Claims.
func (m *MemoryClaims) Claim(_ context.Context, key, owner string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.purged) > 5*time.Second {
		for k, c := range m.claims {
			if !now.Before(c.until) {
				delete(m.claims, k)
			}
		}
		m.purged = now
	}
	if c, ok := m.claims[key]; ok && now.Before(c.until) {
		return false, nil
	}
	m.claims[key] = memoryClaim{owner: owner, until: now.Add(ttl)}
	return true, nil
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
