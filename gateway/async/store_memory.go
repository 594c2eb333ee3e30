package async

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// sweepEvery is how often, at most, a write to the MemoryStore looks through every entry for
// expired ones.
const sweepEvery = time.Second

// errClosed is returned (wrapped) by a MemoryStore used after Close.
var errClosed = errors.New("store closed")

// MemoryStore is the embedded Store: one process, one mutex, two maps.
//
// Expired entries are never returned, and are removed without a goroutine: Get drops the one
// it finds expired, Pending drops them all, and Create and Complete drop them all when the
// last such sweep is sweepEvery old. Memory is therefore bounded by what was written in the
// last TTL plus sweepEvery; with no writes it does not grow.
type MemoryStore struct {
	mu        sync.Mutex
	records   map[string]*memoryRecord // by ID
	keys      map[idemKey]memoryKey
	nextSweep time.Time
	closed    bool
}

var _ Store = (*MemoryStore)(nil)

// memoryRecord is a stored request: the store's own copy, never handed out.
type memoryRecord struct {
	rec     Record
	expires time.Time
}

// idemKey is an idempotency key in its scope. A struct rather than a joined string, so that
// no scope and key can be made to collide with another pair.
type idemKey struct {
	scope, key string
}

// memoryKey is what an idempotency key points to, and the call it is bound to.
type memoryKey struct {
	id      string
	call    Call
	expires time.Time
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		records: map[string]*memoryRecord{},
		keys:    map[idemKey]memoryKey{},
	}
}

// Close drops every request. It is idempotent; the store answers every later call with an
// error.
func (s *MemoryStore) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.records, s.keys = nil, nil
}

// Create stores the request of rec (its ID, Function, Owner, OwnerIP and Created, which
// defaults to now) as pending; the reply fields are set by Complete. An ID that is stored
// already is an error: IDs are random, so it is a bug.
func (s *MemoryStore) Create(_ context.Context, rec *Record, key Key, ttl time.Duration) (string, bool, error) {
	if err := checkCreate(rec, ttl); err != nil {
		return "", false, fmt.Errorf("async store: create: %w", err)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", false, fmt.Errorf("async store: create %s: %w", rec.ID, errClosed)
	}
	s.maybeSweep(now)
	ik := idemKey{scope: key.Scope, key: key.Value}
	if key.Value != "" {
		if k, ok := s.keys[ik]; ok && now.Before(k.expires) {
			if k.call != key.Call {
				return "", false, fmt.Errorf("async store: create %s: %w", rec.ID, &KeyReusedError{First: k.call, Again: key.Call})
			}
			return k.id, false, nil
		}
	}
	if r, ok := s.records[rec.ID]; ok && now.Before(r.expires) {
		return "", false, fmt.Errorf("async store: create %s: the id is taken", rec.ID)
	}
	stored := Record{ID: rec.ID, Function: rec.Function, Owner: rec.Owner, OwnerIP: rec.OwnerIP, State: Pending, Created: rec.Created}
	if stored.Created.IsZero() {
		stored.Created = now
	}
	s.records[rec.ID] = &memoryRecord{rec: stored, expires: now.Add(ttl)}
	if key.Value != "" {
		s.keys[ik] = memoryKey{id: rec.ID, call: key.Call, expires: now.Add(ttl)}
	}
	return rec.ID, true, nil
}

// Get returns a copy of the record of id.
func (s *MemoryStore) Get(_ context.Context, id string) (*Record, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("async store: get %s: %w", id, errClosed)
	}
	r := s.live(id, now)
	if r == nil {
		return nil, fmt.Errorf("async store: get %s: %w", id, ErrNotFound)
	}
	rec := r.rec
	rec.Headers = maps.Clone(rec.Headers)
	rec.Body = bytes.Clone(rec.Body)
	return &rec, nil
}

// Complete stores a copy of the reply of id.
func (s *MemoryStore) Complete(_ context.Context, id string, status int, headers map[string]string, body []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("async store: complete %s: ttl %v is not positive", id, ttl)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("async store: complete %s: %w", id, errClosed)
	}
	s.maybeSweep(now)
	r := s.live(id, now)
	switch {
	case r == nil:
		return fmt.Errorf("async store: complete %s: %w", id, ErrNotFound)
	case r.rec.State == Done:
		return fmt.Errorf("async store: complete %s: %w", id, ErrAlreadyDone)
	}
	r.rec.State, r.rec.Status, r.rec.Completed = Done, status, now
	r.rec.Headers, r.rec.Body = nil, nil
	if len(headers) > 0 {
		r.rec.Headers = maps.Clone(headers)
	}
	if len(body) > 0 {
		r.rec.Body = bytes.Clone(body)
	}
	r.expires = now.Add(ttl)
	return nil
}

// Pending counts the pending requests exactly, dropping every expired entry on the way.
func (s *MemoryStore) Pending(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("async store: pending: %w", errClosed)
	}
	return s.sweep(time.Now()), nil
}

// live returns the unexpired record of id, dropping it when it has expired. s.mu is held.
func (s *MemoryStore) live(id string, now time.Time) *memoryRecord {
	r, ok := s.records[id]
	if !ok {
		return nil
	}
	if !now.Before(r.expires) {
		delete(s.records, id)
		return nil
	}
	return r
}

// maybeSweep sweeps when the last sweep is sweepEvery old. s.mu is held.
func (s *MemoryStore) maybeSweep(now time.Time) {
	if now.Before(s.nextSweep) {
		return
	}
	s.sweep(now)
}

// sweep drops every expired entry and counts the pending records left. s.mu is held.
func (s *MemoryStore) sweep(now time.Time) (pending int64) {
	s.nextSweep = now.Add(sweepEvery)
	for id, r := range s.records {
		switch {
		case !now.Before(r.expires):
			delete(s.records, id)
		case r.rec.State == Pending:
			pending++
		}
	}
	for k, v := range s.keys {
		if !now.Before(v.expires) {
			delete(s.keys, k)
		}
	}
	return pending
}

// checkCreate rejects what no store can keep.
func checkCreate(rec *Record, ttl time.Duration) error {
	switch {
	case rec == nil || rec.ID == "":
		return errors.New("a record without an id")
	case ttl <= 0:
		return fmt.Errorf("%s: ttl %v is not positive", rec.ID, ttl)
	}
	return nil
}
