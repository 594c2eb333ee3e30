package manifest

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// reservedPrefixes are the gateway's own paths (docs/http.md). A route equal to one
// of them, or below one, is refused.
var reservedPrefixes = []string{"/admin", "/ws", "/requests", "/healthz", "/readyz", "/metrics"}

var (
	paramRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	literalRE = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
)

// validMethod reports whether m is an upper-cased method a trigger may use.
func validMethod(m string) bool { return slices.Contains(methods, m) }

// paramName returns the name of a {name} segment.
func paramName(seg string) (string, bool) {
	if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' {
		return "", false
	}
	return seg[1 : len(seg)-1], true
}

// checkRoutePath returns what is wrong with the route path p, or "". Literal
// segments are kept to characters that mean nothing to a router, so a route
// reads the same in every router the gateway might use.
func checkRoutePath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return `must start with "/"`
	}
	if p == "/" {
		return ""
	}
	seen := map[string]bool{}
	for _, seg := range strings.Split(p[1:], "/") {
		name, isParam := paramName(seg)
		switch {
		case seg == "":
			return "empty path segment"
		case seg == "." || seg == "..":
			return fmt.Sprintf("path segment %q is not allowed", seg)
		case isParam && !paramRE.MatchString(name):
			return fmt.Sprintf("invalid parameter %q: must match [A-Za-z_][A-Za-z0-9_]*", seg)
		case isParam && seen[name]:
			return fmt.Sprintf("duplicate parameter %q", name)
		case isParam:
			seen[name] = true
		case !literalRE.MatchString(seg):
			return fmt.Sprintf("invalid path segment %q: must be {name} or match [A-Za-z0-9._~-]+", seg)
		}
	}
	if r := reservedPrefix(p); r != "" {
		return "route prefix " + r + " is reserved"
	}
	return ""
}

// reservedPrefix returns the reserved prefix p falls under, or "". Case is
// ignored, as routers commonly match paths case-insensitively.
func reservedPrefix(p string) string {
	first, _, _ := strings.Cut(p[1:], "/")
	for _, r := range reservedPrefixes {
		if strings.EqualFold(first, r[1:]) {
			return r
		}
	}
	return ""
}

// routeShape normalises a valid route path for conflict checks: parameter
// names do not matter, and neither does case.
func routeShape(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if _, ok := paramName(s); ok {
			segs[i] = "{}"
		} else {
			segs[i] = strings.ToLower(s)
		}
	}
	return strings.Join(segs, "/")
}

// CheckConflicts reports duplicate function names, conflicting HTTP routes and
// conflicting websocket triggers (checkWebSocketConflicts) among fns, as an
// [ErrorList] naming the later of each pair. Two routes
// conflict when their methods are equal (ANY is equal to every method) and
// their paths have the same shape: /a/{x} conflicts with /a/{y} but not with
// /a/b, since a literal segment wins when a request is matched.
//
// LoadPaths calls it across all files. A host adding a function to a running
// set calls it with the running functions and the new one; a redeploy that
// replaces a function passes the set without the old version.
func CheckConflicts(fns []*Function) error {
	return checkConflicts(fns).err()
}

// route is one HTTP trigger seen by checkConflicts.
type route struct {
	fn *Function
	i  int // index in fn.Triggers
	t  *HTTPTrigger
}

// routePosition locates the path of the HTTP trigger fn.Triggers[i]. A
// Function built by hand rather than parsed gets its own line.
func (fn *Function) routePosition(i int) position {
	if pos, ok := fn.routes[fn.Triggers[i].HTTP]; ok {
		return pos
	}
	return position{line: fn.Line, field: fmt.Sprintf("triggers[%d].http.path", i)}
}

func checkConflicts(fns []*Function) ErrorList {
	var errs ErrorList
	names := map[string]*Function{}
	routes := map[string][]route{}
	for _, fn := range fns {
		if fn.Name != "" {
			if first, dup := names[fn.Name]; dup {
				errs.add(fn.File, cmp.Or(fn.nameLine, fn.Line), "name",
					"duplicate function name %q (also at %s:%d)", fn.Name, first.File, first.Line)
			} else {
				names[fn.Name] = fn
			}
		}
		for i, t := range fn.Triggers {
			h := t.HTTP
			if h == nil || !validMethod(h.Method) || checkRoutePath(h.Path) != "" {
				continue // reported when decoded
			}
			shape := routeShape(h.Path)
			for _, r := range routes[shape] {
				if h.Method == r.t.Method || h.Method == "ANY" || r.t.Method == "ANY" {
					pos := fn.routePosition(i)
					errs.add(fn.File, pos.line, pos.field, "%s %s conflicts with %s (%s:%d)",
						h.Method, h.Path, r.fn.Name, r.fn.File, r.fn.routePosition(r.i).line)
					break
				}
			}
			routes[shape] = append(routes[shape], route{fn, i, h})
		}
	}
	return append(errs, checkWebSocketConflicts(fns)...)
}
