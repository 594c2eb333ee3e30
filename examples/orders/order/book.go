package order

import "sync"

// DefaultMaxOrders is how many orders a Book keeps unless MAX_ORDERS says otherwise.
const DefaultMaxOrders = 10_000

// Book is per-order state kept in a function's memory, bounded: past its limit the oldest is
// forgotten. It is safe for concurrent use, and each call runs under its lock, so a handler's
// read-modify-write of one order is atomic even though handlers run concurrently.
type Book[V any] struct {
	mu    sync.Mutex
	limit int
	m     map[string]*V
	order []string // IDs, oldest first
}

// NewBook returns an empty book of at most limit orders (DefaultMaxOrders when limit < 1).
func NewBook[V any](limit int) *Book[V] {
	if limit < 1 {
		limit = DefaultMaxOrders
	}
	return &Book[V]{limit: limit, m: make(map[string]*V)}
}

// Do runs f on the state of id, made (zero) when missing.
func (b *Book[V]) Do(id string, f func(v *V)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.m[id]
	if v == nil {
		v = new(V)
		b.m[id] = v
		b.order = append(b.order, id)
		for len(b.m) > b.limit {
			delete(b.m, b.order[0])
			b.order[0] = ""
			b.order = b.order[1:]
		}
	}
	f(v)
}

// Get runs f on the state of id, if the book has it, and reports whether it had.
func (b *Book[V]) Get(id string, f func(v *V)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.m[id]
	if v == nil {
		return false
	}
	f(v)
	return true
}

// Len is how many orders the book holds.
func (b *Book[V]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// Recent runs f on up to n orders, newest first.
func (b *Book[V]) Recent(n int, f func(id string, v *V)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.order) - 1; i >= 0 && n > 0; i-- {
		f(b.order[i], b.m[b.order[i]])
		n--
	}
}
