package router

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Route binds a method and a path pattern to a target, typically the function that serves it.
type Route[T any] struct {
	// Method is GET, POST, PUT, PATCH, DELETE, or ANY for every method; case-insensitive.
	// GET routes also serve HEAD requests.
	Method string
	// Pattern is "/" or a sequence of "/segment", each a literal or a "{name}" parameter that
	// captures one non-empty segment, e.g. "/orders/{id}/items/{item}". Parameter names match
	// [A-Za-z_][A-Za-z0-9_]* and are unique within a pattern.
	Pattern string
	// Target is what Match returns for this route.
	Target T
}

// Table is an immutable route table. It is safe for concurrent use; build a new one with [New]
// to change the routes.
type Table[T any] struct {
	root node[T]
	size int
}

// entry is one route as stored in its node.
type entry[T any] struct {
	target  T
	names   []string // parameter names, in pattern order
	method  string
	pattern string
	index   int // position in the routes given to New, for error messages
}

// node is one position in the tree: the routes whose pattern ends here, and the children for
// the next segment.
type node[T any] struct {
	// lits holds the literal children when they are few (a linear scan beats hashing there);
	// litMap holds them otherwise. At most one of the two is set once the table is built.
	lits   []edge[T]
	litMap map[string]*node[T]
	param  *node[T]
	routes [numMethods]*entry[T]
	allow  uint8 // mask of the concrete methods routed here, for the Allow header
}

type edge[T any] struct {
	label string
	node  *node[T]
}

// maxLinearChildren is the most literal children a node scans linearly before switching to a map.
const maxLinearChildren = 8

// New builds a table from routes. It fails, listing every problem, when a method or pattern is
// invalid or when two routes conflict: same shape (the same literals at the same places,
// parameters at the same places whatever their names) and the same method, where ANY conflicts
// with every method.
func New[T any](routes []Route[T]) (*Table[T], error) {
	t := &Table[T]{size: len(routes)}
	var errs []error
	for i, r := range routes {
		if err := t.add(i, r); err != nil {
			errs = append(errs, fmt.Errorf("route %d (%s %s): %w", i, r.Method, r.Pattern, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("router: %w", errors.Join(errs...))
	}
	t.root.freeze()
	return t, nil
}

// Len returns the number of routes in the table.
func (t *Table[T]) Len() int {
	if t == nil {
		return 0
	}
	return t.size
}

func (t *Table[T]) add(i int, r Route[T]) error {
	m, err := routeMethod(r.Method)
	if err != nil {
		return err
	}
	segs, names, err := parsePattern(r.Pattern)
	if err != nil {
		return fmt.Errorf("pattern: %w", err)
	}
	n := &t.root
	for _, s := range segs {
		n = n.childFor(s)
	}
	if prev := n.conflict(m); prev != nil {
		return fmt.Errorf("conflicts with route %d (%s %s)", prev.index, prev.method, prev.pattern)
	}
	n.routes[m] = &entry[T]{
		target:  r.Target,
		names:   names,
		method:  methodNames[m],
		pattern: r.Pattern,
		index:   i,
	}
	if m != mANY {
		n.allow |= 1 << m
	}
	return nil
}

// childFor returns the child for s, creating it. While the table is built, literal children
// live in litMap; freeze moves small sets to lits.
func (n *node[T]) childFor(s segment) *node[T] {
	if s.isParam {
		if n.param == nil {
			n.param = &node[T]{}
		}
		return n.param
	}
	if c := n.litMap[s.text]; c != nil {
		return c
	}
	if n.litMap == nil {
		n.litMap = make(map[string]*node[T])
	}
	c := &node[T]{}
	n.litMap[s.text] = c
	return c
}

// conflict returns the route already at n that a new route with method m would overlap.
func (n *node[T]) conflict(m int) *entry[T] {
	if m == mANY {
		for _, e := range n.routes {
			if e != nil {
				return e
			}
		}
		return nil
	}
	if e := n.routes[m]; e != nil {
		return e
	}
	return n.routes[mANY]
}

func (n *node[T]) freeze() {
	if len(n.litMap) <= maxLinearChildren {
		for label, c := range n.litMap {
			n.lits = append(n.lits, edge[T]{label, c})
		}
		// A stable order keeps tables built from the same routes identical.
		slices.SortFunc(n.lits, func(a, b edge[T]) int { return strings.Compare(a.label, b.label) })
		n.litMap = nil
	}
	for _, e := range n.lits {
		e.node.freeze()
	}
	for _, c := range n.litMap {
		c.freeze()
	}
	if n.param != nil {
		n.param.freeze()
	}
}

// Match finds the route for a request's method and path and fills p with its parameters.
//
//   - On a hit it returns the route's target and ok=true.
//   - When some route matches the path but none serves this method, it returns ok=false and
//     allow, the methods that would be served (e.g. "GET, HEAD, POST"), for the Allow header
//     of a 405.
//   - When no route matches the path at all, it returns ok=false and allow="": a 404.
//
// path is the decoded path, beginning with "/"; it is matched as given, without unescaping or
// cleaning, and strictly: "/orders/42/" does not match "/orders/{id}". A HEAD request is served
// by a GET route, and a method other than GET, HEAD, POST, PUT, PATCH and DELETE only by an ANY
// route; a route for the exact method wins over an ANY route. The values put in p are
// substrings of path (see [Params]). Match does not allocate. A nil table matches nothing.
func (t *Table[T]) Match(method, path string, p *Params) (target T, ok bool, allow string) {
	p.Reset()
	if t == nil || path == "" || path[0] != '/' {
		return target, false, ""
	}
	rest := path
	if path == "/" {
		rest = ""
	}
	var mask uint8
	e := t.root.lookup(rest, requestMethod(method), p, 0, &mask)
	if e == nil {
		// Backtracking may have left values of branches that failed.
		clear(p.vals[:])
		if mask != 0 {
			allow = allowHeaders[mask]
		}
		return target, false, allow
	}
	p.names = e.names
	p.n = len(e.names)
	return e.target, true, ""
}

// lookup matches rest, the part of the path below n ("" or beginning with "/"), depth first:
// the literal child before the parameter child, so that the search falls back to the parameter
// when the literal branch fails. Each node is visited at most once per lookup, since the path
// fixes the segment at every depth. np is the number of parameters captured above n; mask
// collects the methods of nodes that matched the path but not the method.
func (n *node[T]) lookup(rest string, m int, p *Params, np int, mask *uint8) *entry[T] {
	if rest == "" {
		if m != noMethod {
			if e := n.routes[m]; e != nil {
				return e
			}
		}
		if e := n.routes[mANY]; e != nil {
			return e
		}
		*mask |= n.allow
		return nil
	}
	seg, next := rest[1:], ""
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, next = seg[:i], seg[i:]
	}
	if c := n.child(seg); c != nil {
		if e := c.lookup(next, m, p, np, mask); e != nil {
			return e
		}
	}
	if n.param != nil && seg != "" {
		p.vals[np] = seg
		if e := n.param.lookup(next, m, p, np+1, mask); e != nil {
			return e
		}
	}
	return nil
}

func (n *node[T]) child(seg string) *node[T] {
	if n.litMap != nil {
		return n.litMap[seg]
	}
	for i := range n.lits {
		if n.lits[i].label == seg {
			return n.lits[i].node
		}
	}
	return nil
}
