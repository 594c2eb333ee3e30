package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/edgefn/edgefn/gateway/auth"
	"github.com/edgefn/edgefn/gateway/guard"
)

// adminFailureRate is how many failed admin authentications a client IP may make: a burst
// of 10, then one every 6 seconds (docs/http.md#admin-api).
const adminFailureRate = "10/m"

// forwardingHeaders are the request headers that proxies add. An admin request carrying one
// came through a proxy (or pretends to), unless --admin-via-proxy allows it.
var forwardingHeaders = []string{
	"Forwarded", "Via", "X-Real-IP", "True-Client-IP", "X-Client-IP", "CF-Connecting-IP",
	"X-Original-Forwarded-For",
}

// adminGuard is what stands in front of every admin endpoint, in this order: the request must
// not come through a proxy, must name an allowed Host, must not be a cross-site browser
// request, and must carry the admin token, with failed attempts limited per client IP
// (docs/http.md#admin-api). Each refusal is written to the audit log.
type adminGuard struct {
	token       [sha256.Size]byte
	fingerprint string
	hosts       map[string]bool
	viaProxy    bool
	clientIP    *guard.ClientIP
	failures    *guard.Limiter
}

// newAdminGuard checks the admin parts of cfg.
func newAdminGuard(cfg *Config) (*adminGuard, error) {
	if cfg.AdminToken == "" {
		return nil, fmt.Errorf("gateway: an admin token is required")
	}
	r, err := guard.ParseRate(adminFailureRate, 0)
	if err != nil {
		return nil, err
	}
	failures, err := guard.NewLimiter(r, 0)
	if err != nil {
		return nil, err
	}
	g := &adminGuard{
		token: sha256.Sum256([]byte(cfg.AdminToken)), hosts: map[string]bool{},
		viaProxy: cfg.AdminViaProxy, clientIP: cfg.ClientIP, failures: failures,
	}
	g.fingerprint = "sha256:" + hex.EncodeToString(g.token[:4])
	for _, h := range cfg.AdminHosts {
		if h == "" || strings.ContainsAny(h, "/:@[] ") {
			return nil, fmt.Errorf("gateway: admin host %q: want a host name, without port or scheme", h)
		}
		g.hosts[normalHost(h)] = true
	}
	return g, nil
}

// adminAuth guards the admin API (see adminGuard).
func (s *Server) adminAuth(c *fiber.Ctx) error {
	if !underAdmin(c.Path()) {
		return c.Next()
	}
	g := s.admin
	if !g.viaProxy && g.proxied(c) {
		return s.adminDenied(c, fiber.StatusForbidden, "forbidden",
			"the admin API does not answer requests that come through a proxy (see --admin-via-proxy)")
	}
	if host := string(c.Request().Host()); !g.hostAllowed(host) {
		return s.adminDenied(c, fiber.StatusForbidden, "forbidden",
			fmt.Sprintf("the admin API does not answer for host %q (see --admin-hosts)", host))
	}
	if crossSite(c) {
		return s.adminDenied(c, fiber.StatusForbidden, "forbidden",
			"the admin API does not answer browser requests from another site")
	}
	ip := g.clientIP.Of(c)
	if blocked, wait := g.failures.Blocked(ip); blocked {
		secs := max(1, int(math.Ceil(wait.Seconds())))
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return s.adminDenied(c, fiber.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("too many failed admin authentications from this client; retry in %ds", secs))
	}
	// The comparison is of SHA-256 digests in constant time, so that neither the content nor
	// the length of the token leaks through timing (subtle.ConstantTimeCompare returns at once
	// on a length mismatch).
	token, ok := auth.BearerToken(c.Get(fiber.HeaderAuthorization))
	got := sha256.Sum256([]byte(token))
	if !ok || subtle.ConstantTimeCompare(got[:], g.token[:]) != 1 {
		g.failures.Allow(ip)
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="edgefn admin"`)
		return s.adminDenied(c, fiber.StatusUnauthorized, "unauthorized", "admin token required")
	}
	return c.Next()
}

// proxied reports whether the request came through a proxy: its peer is a trusted proxy, or
// it carries a forwarding header. A request a function makes to the gateway on behalf of a
// caller (a server-side request forgery) often does; an operator's CLI does not.
func (g *adminGuard) proxied(c *fiber.Ctx) bool {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	if g.clientIP.Trusts(peer) {
		return true
	}
	found := false
	c.Request().Header.VisitAll(func(k, _ []byte) {
		name := string(k)
		if len(name) > len("X-Forwarded-") && strings.EqualFold(name[:len("X-Forwarded-")], "X-Forwarded-") {
			found = true
		}
		for _, h := range forwardingHeaders {
			if strings.EqualFold(name, h) {
				found = true
			}
		}
	})
	return found
}

// hostAllowed reports whether the Host of an admin request is one the admin API answers for:
// an IP literal, localhost, or a name of AdminHosts; its port does not matter (a container's
// port is often mapped to another). A browser page on a foreign name that the attacker makes
// resolve to this machine (DNS rebinding) sends its own name, and is refused.
func (g *adminGuard) hostAllowed(host string) bool {
	h := normalHost(host)
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return h == "localhost" || g.hosts[h]
}

// normalHost is the host of a Host header value or host name: lower case, without the port,
// the brackets of an IPv6 literal or a final dot.
func normalHost(host string) string {
	h := strings.ToLower(strings.TrimSpace(host))
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return ""
		}
		return h[1:end]
	}
	if strings.Count(h, ":") == 1 {
		h, _, _ = strings.Cut(h, ":")
	}
	return strings.TrimSuffix(h, ".")
}

// crossSite reports whether a browser says it sent the request from a page of another site or
// origin: Sec-Fetch-Site is cross-site or same-site, or Origin is not the origin of the Host
// the request was sent to. A form or a fetch of text/plain needs no CORS preflight, so the
// browser sends it whatever CORS would allow; these headers are how the gateway tells.
func crossSite(c *fiber.Ctx) bool {
	switch strings.ToLower(c.Get("Sec-Fetch-Site")) {
	case "cross-site", "same-site":
		return true
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return true // "null" (a sandboxed page, a redirect) or nonsense
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return withPort(u.Host, port) != withPort(string(c.Request().Host()), port)
}

// withPort is host in lower case with port added when it has none.
func withPort(host, port string) string {
	host = strings.ToLower(host)
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") || !strings.HasPrefix(host, "[") && !strings.Contains(host, ":") {
		return host + ":" + port
	}
	return host
}

// adminDenied answers a refused admin request and writes it to the audit log.
func (s *Server) adminDenied(c *fiber.Ctx, status int, code, message string) error {
	s.cfg.Logger.Warn("admin audit", "who", "unauthenticated", "action", "denied",
		"target", c.Method()+" "+c.Path(), "from", s.admin.clientIP.Of(c).String(),
		"peer", c.Context().RemoteAddr().String(), "status", status, "reason", message,
		"request_id", requestID(c))
	return sendError(c, status, code, message)
}

// audited wraps the admin handler of a state-changing action: once it has answered, the
// action is written to the audit log (docs/http.md#admin-api) with who did it (the admin
// token's fingerprint), what (action and target: the function or trigger), from where (the
// client IP and the TCP peer) and the answer's status; the log line's time says when.
func (s *Server) audited(action string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		target := c.Params("name")
		if target == "" {
			target = c.Params("trigger")
		}
		// The route's values point into the request's memory, reused after the handler:
		// the attributes are formatted now, while it is still the request's.
		s.cfg.Logger.Info("admin audit", "who", s.admin.fingerprint, "action", action,
			"target", target, "from", s.admin.clientIP.Of(c).String(),
			"peer", c.Context().RemoteAddr().String(), "status", c.Response().StatusCode(),
			"request_id", requestID(c))
		return err
	}
}
