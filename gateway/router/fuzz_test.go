package router

import (
	"strings"
	"testing"
)

// FuzzMatch builds a table from up to eight fuzzed patterns (one per line; invalid and
// conflicting ones are dropped) and matches a fuzzed path against it. Match must not panic, a
// hit must be honest (its parameters, substituted into its pattern, give back the path), and the
// route chosen must be the one a brute-force search picks: of every pattern that matches, the
// one with a literal at the first position where they differ.
func FuzzMatch(f *testing.F) {
	f.Add("/orders/{id}\n/orders/new\n/orders/{id}/items/{item}", "/orders/42/items/7")
	f.Add("/orders/new/items/x\n/orders/{id}/items/{item}", "/orders/new/items/y")
	f.Add("/\n/{a}\n/{a}/{b}", "/")
	f.Add("/a/{x}/c\n/{y}/b/{z}", "/a/b/c")
	f.Add("/{a}", "/x/")
	f.Add("/{a}", "//")
	f.Fuzz(func(t *testing.T, patterns, path string) {
		var rs []Route[string]
		for _, pat := range strings.SplitN(patterns, "\n", 8) {
			candidate := append(rs[:len(rs):len(rs)], Route[string]{Method: "GET", Pattern: pat, Target: pat})
			if _, err := New(candidate); err == nil {
				rs = candidate
			}
		}
		tab, err := New(rs)
		if err != nil {
			t.Fatalf("New of accepted routes: %v", err)
		}
		var p Params
		pattern, ok, allow := tab.Match("GET", path, &p)
		if want := bruteForce(rs, path); pattern != want {
			t.Fatalf("Match(%q) = %q, brute force finds %q", path, pattern, want)
		}
		if !ok {
			if allow != "" {
				t.Fatalf("Match(GET %q) = 405 %q with only GET routes", path, allow)
			}
			if p.Len() != 0 {
				t.Fatalf("miss left %d params", p.Len())
			}
			return
		}
		if got := substitute(t, pattern, &p); got != path {
			t.Fatalf("Match(%q) = %q with params %v, which gives %q", path, pattern, p.Map(), got)
		}
		if _, ok2, _ := tab.Match("HEAD", path, &p); !ok2 {
			t.Fatalf("HEAD %q missed where GET matched", path)
		}
	})
}

// substitute fills pattern's parameters from p, checking that each captured exactly one
// non-empty segment.
func substitute(t *testing.T, pattern string, p *Params) string {
	if pattern == "/" {
		if p.Len() != 0 {
			t.Fatalf("root match has %d params", p.Len())
		}
		return "/"
	}
	segs := strings.Split(pattern[1:], "/")
	np := 0
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		name, value := p.At(np)
		if "{"+name+"}" != s {
			t.Fatalf("param %d is %q, pattern has %q", np, name, s)
		}
		if value == "" || strings.Contains(value, "/") {
			t.Fatalf("param %q = %q: not one non-empty segment", name, value)
		}
		segs[i] = value
		np++
	}
	if np != p.Len() {
		t.Fatalf("pattern %q has %d params, match has %d", pattern, np, p.Len())
	}
	return "/" + strings.Join(segs, "/")
}

// bruteForce returns the pattern of rs that should serve path, or "".
func bruteForce(rs []Route[string], path string) string {
	if path == "" || path[0] != '/' {
		return ""
	}
	var pathSegs []string
	if path != "/" {
		pathSegs = strings.Split(path[1:], "/")
	}
	best, bestKey := "", ""
	for _, r := range rs {
		var patSegs []string
		if r.Pattern != "/" {
			patSegs = strings.Split(r.Pattern[1:], "/")
		}
		if len(patSegs) != len(pathSegs) {
			continue
		}
		// key orders candidates: "0" for a literal sorts before "1" for a parameter.
		key, match := "", true
		for i, s := range patSegs {
			if strings.HasPrefix(s, "{") {
				match = match && pathSegs[i] != ""
				key += "1"
			} else {
				match = match && pathSegs[i] == s
				key += "0"
			}
		}
		if match && (best == "" || key < bestKey) {
			best, bestKey = r.Pattern, key
		}
	}
	return best
}
