package guard

import (
	"errors"
	"net/netip"
	"sync"
)

// ClientKey is what the limits count a client IP as: an IPv4 address as it is, an IPv6
// address as its /64. One IPv6 host (or one customer of a provider) holds a whole /64 and
// may pick any address in it, so counting single IPv6 addresses would give it billions of
// fresh buckets and connection counts.
func ClientKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if !ip.Is6() {
		return ip
	}
	return netip.PrefixFrom(ip, 64).Masked().Addr()
}

// ErrClientConns and ErrTotalConns are the refusals of [ConnLimit.Acquire].
var (
	ErrClientConns = errors.New("too many connections from this client")
	ErrTotalConns  = errors.New("too many connections to this gateway")
)

// ConnLimit counts open connections per client (ClientKey) and in all, and refuses one
// beyond either cap. Its table holds only clients with open connections, so it is bounded by
// the total cap. It is safe for concurrent use.
type ConnLimit struct {
	perClient, total int

	mu      sync.Mutex
	open    int
	clients map[netip.Addr]int
}

// NewConnLimit caps connections at perClient per client and total in all; 0 (or less) is no
// cap.
func NewConnLimit(perClient, total int) *ConnLimit {
	return &ConnLimit{perClient: perClient, total: total, clients: map[netip.Addr]int{}}
}

// Acquire counts a new connection of ip, or refuses it with ErrClientConns (the client is
// at its cap, checked first) or ErrTotalConns. Each Acquire that succeeded is paired with
// one Release of the same ip.
func (l *ConnLimit) Acquire(ip netip.Addr) error {
	k := ClientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perClient > 0 && l.clients[k] >= l.perClient {
		return ErrClientConns
	}
	if l.total > 0 && l.open >= l.total {
		return ErrTotalConns
	}
	l.clients[k]++
	l.open++
	return nil
}

// Release ends a connection counted by Acquire.
func (l *ConnLimit) Release(ip netip.Addr) {
	k := ClientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients[k] <= 1 {
		delete(l.clients, k)
	} else {
		l.clients[k]--
	}
	l.open--
}

// Open is the number of connections counted now.
func (l *ConnLimit) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}
