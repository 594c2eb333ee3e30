package router

import (
	"iter"
	"strings"
)

// MaxParams is the most parameters a pattern may declare; [New] refuses patterns with more.
const MaxParams = 16

// Params holds the path parameters of one match, in pattern order. Its capacity is fixed, so a
// Params declared on the stack or kept in a pool costs no allocation; the zero value is empty and
// ready to use, and [Table.Match] resets it before filling it.
//
// Values are substrings of the path given to Match: they share its memory. Fiber reuses request
// memory once the handler returns, so a caller that keeps a value longer must copy it
// ([strings.Clone], or [Params.Map], which copies).
type Params struct {
	names []string // the matched route's parameter names, shared with the table; read-only
	vals  [MaxParams]string
	n     int
}

// Reset empties p so that it can be reused.
func (p *Params) Reset() {
	p.names = nil
	clear(p.vals[:p.n])
	p.n = 0
}

// Len returns the number of parameters.
func (p *Params) Len() int { return p.n }

// At returns the name and value of the i-th parameter, in pattern order. It panics if i is out
// of range [0, Len()).
func (p *Params) At(i int) (name, value string) {
	if i < 0 || i >= p.n {
		panic("router: Params.At index out of range")
	}
	return p.names[i], p.vals[i]
}

// Get returns the value of the named parameter, or "" if the route has no such parameter.
func (p *Params) Get(name string) string {
	for i := range p.n {
		if p.names[i] == name {
			return p.vals[i]
		}
	}
	return ""
}

// All iterates over the parameters in pattern order, as name, value pairs.
func (p *Params) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := range p.n {
			if !yield(p.names[i], p.vals[i]) {
				return
			}
		}
	}
}

// Map returns the parameters as a new map whose values are copies, safe to keep after the
// request's memory is reused. It returns nil when there are no parameters.
func (p *Params) Map() map[string]string {
	if p.n == 0 {
		return nil
	}
	m := make(map[string]string, p.n)
	for i := range p.n {
		m[p.names[i]] = strings.Clone(p.vals[i])
	}
	return m
}
