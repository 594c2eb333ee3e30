package guard

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ClientIP finds the IP of the client behind a request. The zero value trusts no proxy: the
// client is the TCP peer.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a ClientIP that believes X-Forwarded-For from the given proxies, each
// an IP address or a CIDR prefix ("10.0.0.0/8", "::1").
func NewClientIP(trustedProxies []string) (*ClientIP, error) {
	r := &ClientIP{}
	for _, s := range trustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			r.trusted = append(r.trusted, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an IP address or a CIDR prefix", s)
		}
		a = a.Unmap()
		r.trusted = append(r.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return r, nil
}

func (r *ClientIP) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Trusts reports whether a is one of the trusted proxies. A nil ClientIP trusts none.
func (r *ClientIP) Trusts(a netip.Addr) bool {
	return r != nil && r.isTrusted(a)
}

// Of returns the client IP of c's request.
func (r *ClientIP) Of(c *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	if r == nil || len(r.trusted) == 0 || !r.isTrusted(peer) {
		return peer
	}
	var hops []string
	c.Request().Header.VisitAll(func(k, v []byte) {
		if strings.EqualFold(string(k), fiber.HeaderXForwardedFor) {
			hops = append(hops, strings.Split(string(v), ",")...)
		}
	})
	return r.fromHops(peer, hops)
}

// fromHops walks X-Forwarded-For from the right: the nearest hop that is not a trusted proxy
// is the client. An unparsable hop ends the walk at the last good one.
func (r *ClientIP) fromHops(peer netip.Addr, hops []string) netip.Addr {
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client
		}
		client = a.Unmap()
		if !r.isTrusted(client) {
			return client
		}
	}
	return client
}
