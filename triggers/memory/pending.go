package memory

import (
	"container/heap"
	"time"
)

// pending is an entry of a group's pending list, as in Redis' PEL: delivered to a consumer
// and not acknowledged yet.
type pending struct {
	e       *entry
	owner   *streamSource // who it was last delivered to, maybe closed since
	count   int           // deliveries so far
	last    time.Time     // last delivery
	retryAt time.Time     // when a retried entry is due; zero unless retried

	prev, next *pending // in idle, while not retried
	hidx       int      // in retries, while retried
}

// idleList links the pending entries that are not waiting for a retry by last delivery,
// oldest first: delivering moves an entry to the back, so the front is the first that a
// consumer may claim.
type idleList struct {
	head, tail *pending
}

func (l *idleList) pushBack(p *pending) {
	p.prev, p.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = p
	} else {
		l.head = p
	}
	l.tail = p
}

func (l *idleList) remove(p *pending) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		l.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		l.tail = p.prev
	}
	p.prev, p.next = nil, nil
}

// retryHeap orders retried pending entries by due time, then stream order (container/heap).
type retryHeap []*pending

func (h retryHeap) Len() int { return len(h) }
func (h retryHeap) Less(i, j int) bool {
	if c := h[i].retryAt.Compare(h[j].retryAt); c != 0 {
		return c < 0
	}
	return h[i].e.n < h[j].e.n
}
func (h retryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *retryHeap) Push(x any) {
	p := x.(*pending)
	p.hidx = len(*h)
	*h = append(*h, p)
}
func (h *retryHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.hidx = -1
	return p
}

// group is a consumer group of a stream: a read position and a pending list.
type group struct {
	name      string
	next      uint64 // position of the first entry not yet delivered to the group
	pending   map[uint64]*pending
	idle      idleList
	retries   retryHeap
	consumers map[string]*streamSource // live consumers by name
}

func newGroup(name string, next uint64) *group {
	return &group{name: name, next: next, pending: map[uint64]*pending{}, consumers: map[string]*streamSource{}}
}

// deliver records the first delivery of e to src.
func (g *group) deliver(e *entry, src *streamSource, now time.Time) *pending {
	p := &pending{e: e, owner: src, count: 1, last: now, hidx: -1}
	g.pending[e.n] = p
	g.idle.pushBack(p)
	return p
}

// claim records the redelivery of p to src.
func (g *group) claim(p *pending, src *streamSource, now time.Time) {
	g.unlink(p)
	p.owner, p.count, p.last, p.retryAt = src, p.count+1, now, time.Time{}
	g.idle.pushBack(p)
}

// retry makes p due again at at, for any consumer of the group.
func (g *group) retry(p *pending, at time.Time) {
	g.unlink(p)
	p.retryAt = at
	heap.Push(&g.retries, p)
}

// remove takes p off the pending list: acknowledged, dead-lettered or trimmed.
func (g *group) remove(p *pending) {
	g.unlink(p)
	delete(g.pending, p.e.n)
}

func (g *group) unlink(p *pending) {
	if p.hidx >= 0 {
		heap.Remove(&g.retries, p.hidx)
	} else {
		g.idle.remove(p)
	}
}

// due claims for src up to n pending entries that are due at now: retried entries whose
// delay has passed, then entries idle for claimAfter or more, whoever holds them.
func (g *group) due(src *streamSource, now time.Time, n int) []*pending {
	var out []*pending
	for len(out) < n && len(g.retries) > 0 && !g.retries[0].retryAt.After(now) {
		p := g.retries[0]
		g.claim(p, src, now)
		out = append(out, p)
	}
	for len(out) < n && g.idle.head != nil && now.Sub(g.idle.head.last) >= src.claimAfter {
		p := g.idle.head
		g.claim(p, src, now) // moves p to the back with last = now: the loop ends there
		out = append(out, p)
	}
	return out
}

// nextDue returns when the next pending entry falls due for a consumer that claims after
// claimAfter; zero when none will.
func (g *group) nextDue(claimAfter time.Duration) time.Time {
	var t time.Time
	if len(g.retries) > 0 {
		t = g.retries[0].retryAt
	}
	if p := g.idle.head; p != nil {
		if c := p.last.Add(claimAfter); t.IsZero() || c.Before(t) {
			t = c
		}
	}
	return t
}
