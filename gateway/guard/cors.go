package guard

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// CORSConfig configures CORS for function routes. No Origins means CORS is off.
type CORSConfig struct {
	// Origins may call the functions from a browser: "scheme://host[:port]" each, or "*" for
	// any.
	Origins []string
	// Methods are allowed in preflights; default GET, HEAD, POST, PUT, PATCH, DELETE.
	Methods []string
	// Headers are the request headers allowed in preflights; default Authorization,
	// Content-Type, Prefer and X-Request-ID.
	Headers []string
	// Credentials lets browsers send cookies and HTTP authentication; not with "*" origins.
	Credentials bool
	// MaxAge is how long browsers may cache a preflight; 0 sends no Access-Control-Max-Age.
	MaxAge time.Duration
}

// exposed are the response headers a browser script may read besides the simple ones.
const exposed = "X-Request-ID, X-Correlation-ID, Retry-After, Location"

// CORS answers preflights and marks the responses of allowed origins.
type CORS struct {
	anyOrigin   bool
	origins     []string // lower case, no trailing slash
	methods     string
	headers     string
	credentials bool
	maxAge      string
}

// NewCORS checks cfg. It returns nil, nil when cfg has no origins (CORS off).
func NewCORS(cfg CORSConfig) (*CORS, error) {
	if len(cfg.Origins) == 0 {
		return nil, nil
	}
	c := &CORS{credentials: cfg.Credentials}
	for _, o := range cfg.Origins {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		if o == "*" {
			c.anyOrigin = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("cors origin %q: want scheme://host[:port] or *", o)
		}
		c.origins = append(c.origins, strings.ToLower(o))
	}
	if c.anyOrigin && c.credentials {
		return nil, errors.New("cors: credentials cannot be allowed for any origin (*): list the origins")
	}
	methods := cfg.Methods
	if len(methods) == 0 {
		methods = []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete}
	}
	for i, m := range methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if !isToken(m) {
			return nil, fmt.Errorf("cors method %q: not an HTTP method", methods[i])
		}
		methods[i] = m
	}
	headers := cfg.Headers
	if len(headers) == 0 {
		headers = []string{fiber.HeaderAuthorization, fiber.HeaderContentType, "Prefer", fiber.HeaderXRequestID}
	}
	for i, h := range headers {
		h = strings.TrimSpace(h)
		if !isToken(h) {
			return nil, fmt.Errorf("cors header %q: not a header name", headers[i])
		}
		headers[i] = h
	}
	c.methods = strings.Join(methods, ", ")
	c.headers = strings.Join(headers, ", ")
	if cfg.MaxAge < 0 {
		return nil, fmt.Errorf("cors max age %v: must be >= 0", cfg.MaxAge)
	}
	if cfg.MaxAge > 0 {
		c.maxAge = strconv.Itoa(int(cfg.MaxAge / time.Second))
	}
	return c, nil
}

// isToken reports whether s is an RFC 9110 token (a method or a header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch <= ' ' || ch >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, ch) >= 0 {
			return false
		}
	}
	return true
}

func (c *CORS) allowed(origin string) bool {
	return c.anyOrigin || slices.Contains(c.origins, strings.ToLower(origin))
}

// Handler answers preflights (OPTIONS with Origin and Access-Control-Request-Method) itself:
// 204 with the allowed methods and headers, or 403 for an origin not allowed. Other requests
// from an allowed origin go on with Access-Control-Allow-Origin set; from another origin they
// go on unmarked, and the browser keeps the response from the page.
func (c *CORS) Handler() fiber.Handler {
	return func(ctx *fiber.Ctx) error {
		ctx.Vary(fiber.HeaderOrigin)
		origin := ctx.Get(fiber.HeaderOrigin)
		preflight := ctx.Method() == fiber.MethodOptions && ctx.Get(fiber.HeaderAccessControlRequestMethod) != ""
		if origin == "" {
			return ctx.Next()
		}
		if !c.allowed(origin) {
			if preflight {
				return fiber.NewError(fiber.StatusForbidden, "origin not allowed")
			}
			return ctx.Next()
		}
		if c.anyOrigin && !c.credentials {
			ctx.Set(fiber.HeaderAccessControlAllowOrigin, "*")
		} else {
			ctx.Set(fiber.HeaderAccessControlAllowOrigin, string([]byte(origin)))
		}
		if c.credentials {
			ctx.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		}
		if !preflight {
			ctx.Set(fiber.HeaderAccessControlExposeHeaders, exposed)
			return ctx.Next()
		}
		ctx.Vary(fiber.HeaderAccessControlRequestMethod, fiber.HeaderAccessControlRequestHeaders)
		ctx.Set(fiber.HeaderAccessControlAllowMethods, c.methods)
		ctx.Set(fiber.HeaderAccessControlAllowHeaders, c.headers)
		if c.maxAge != "" {
			ctx.Set(fiber.HeaderAccessControlMaxAge, c.maxAge)
		}
		return ctx.SendStatus(fiber.StatusNoContent)
	}
}
