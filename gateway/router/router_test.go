package router

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"unsafe"
)

// routes is the table most tests match against; a route's target is its own "METHOD pattern".
var routes = []string{
	"GET /",
	"GET /orders",
	"POST /orders",
	"GET /orders/new",
	"GET /orders/{id}",
	"PUT /orders/{id}",
	"DELETE /orders/{id}",
	"GET /orders/{id}/items/{item}",
	"PATCH /orders/{id}/items/{item}",
	"GET /orders/new/items/{item}/preview", // literal branch that fails deeper for other paths
	"ANY /hooks/{name}",
	"GET /files/{dir}/latest",
	"POST /files/{dir}/{name}",
	"GET /a/b/c",
	"GET /a/{x}/d",
	"GET /{root}/z",
}

func buildTable(t testing.TB, specs []string) *Table[string] {
	t.Helper()
	rs := make([]Route[string], len(specs))
	for i, s := range specs {
		method, pattern, _ := strings.Cut(s, " ")
		rs[i] = Route[string]{Method: method, Pattern: pattern, Target: s}
	}
	tab, err := New(rs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tab
}

func TestMatch(t *testing.T) {
	tab := buildTable(t, routes)
	tests := []struct {
		method, path string
		want         string            // target; "" for a miss
		params       map[string]string // on a hit
		allow        string            // on a miss: "" is 404, else 405
	}{
		// Hits.
		{"GET", "/", "GET /", nil, ""},
		{"GET", "/orders", "GET /orders", nil, ""},
		{"POST", "/orders", "POST /orders", nil, ""},
		{"GET", "/orders/42", "GET /orders/{id}", map[string]string{"id": "42"}, ""},
		{"PUT", "/orders/42", "PUT /orders/{id}", map[string]string{"id": "42"}, ""},
		{"DELETE", "/orders/42", "DELETE /orders/{id}", map[string]string{"id": "42"}, ""},
		{"GET", "/orders/42/items/7", "GET /orders/{id}/items/{item}", map[string]string{"id": "42", "item": "7"}, ""},
		{"PATCH", "/orders/42/items/7", "PATCH /orders/{id}/items/{item}", map[string]string{"id": "42", "item": "7"}, ""},
		{"GET", "/orders/a b/items/x%2Fy", "GET /orders/{id}/items/{item}", map[string]string{"id": "a b", "item": "x%2Fy"}, ""},
		// HEAD is served by GET routes.
		{"HEAD", "/orders/42", "GET /orders/{id}", map[string]string{"id": "42"}, ""},
		{"HEAD", "/", "GET /", nil, ""},
		// Literal beats parameter at the same depth.
		{"GET", "/orders/new", "GET /orders/new", nil, ""},
		{"GET", "/a/b/c", "GET /a/b/c", nil, ""},
		// Backtracking: the literal branch fails deeper, the parameter branch matches.
		{"GET", "/orders/new/items/7", "GET /orders/{id}/items/{item}", map[string]string{"id": "new", "item": "7"}, ""},
		{"GET", "/orders/new/items/7/preview", "GET /orders/new/items/{item}/preview", map[string]string{"item": "7"}, ""},
		{"GET", "/a/b/d", "GET /a/{x}/d", map[string]string{"x": "b"}, ""},
		{"GET", "/a/z", "GET /{root}/z", map[string]string{"root": "a"}, ""},
		{"GET", "/files/latest/latest", "GET /files/{dir}/latest", map[string]string{"dir": "latest"}, ""},
		// Backtracking on method: the literal matches the path but not the method.
		{"PUT", "/orders/new", "PUT /orders/{id}", map[string]string{"id": "new"}, ""},
		// ANY serves every method, including ones no other route names.
		{"GET", "/hooks/github", "ANY /hooks/{name}", map[string]string{"name": "github"}, ""},
		{"DELETE", "/hooks/github", "ANY /hooks/{name}", map[string]string{"name": "github"}, ""},
		{"OPTIONS", "/hooks/github", "ANY /hooks/{name}", map[string]string{"name": "github"}, ""},
		{"HEAD", "/hooks/x", "ANY /hooks/{name}", map[string]string{"name": "x"}, ""},

		// 405 with the methods of every route that matches the path.
		{"POST", "/orders/42", "", nil, "GET, HEAD, PUT, DELETE"},
		{"DELETE", "/orders", "", nil, "GET, HEAD, POST"},
		{"POST", "/", "", nil, "GET, HEAD"},
		{"OPTIONS", "/orders", "", nil, "GET, HEAD, POST"},
		{"get", "/orders", "", nil, "GET, HEAD, POST"}, // request methods are case-sensitive
		{"POST", "/orders/new", "", nil, "GET, HEAD, PUT, DELETE"},
		{"GET", "/files/d/n", "", nil, "POST"},
		{"POST", "/files/d/latest", "POST /files/{dir}/{name}", map[string]string{"dir": "d", "name": "latest"}, ""},
		{"PUT", "/files/d/latest", "", nil, "GET, HEAD, POST"},

		// 404.
		{"GET", "/nope", "", nil, ""},
		{"GET", "", "", nil, ""},
		{"GET", "orders", "", nil, ""},
		{"GET", "/orders/", "", nil, ""},    // strict trailing slash
		{"GET", "/orders/42/", "", nil, ""}, // strict trailing slash
		{"GET", "//", "", nil, ""},
		{"GET", "//orders", "", nil, ""},
		{"GET", "/orders//items/7", "", nil, ""}, // an empty segment never matches a parameter
		{"GET", "/hooks/", "", nil, ""},
		{"GET", "/Orders", "", nil, ""}, // literals are case-sensitive
		{"GET", "/orders/42/items", "", nil, ""},
		{"GET", "/orders/42/items/7/8", "", nil, ""},
		{"GET", "/a", "", nil, ""},
		{"GET", "/a/b", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var p Params
			p.vals[3] = "stale" // Match must reset what it is given
			p.n = 4
			got, ok, allow := tab.Match(tt.method, tt.path, &p)
			if got != tt.want || ok != (tt.want != "") || allow != tt.allow {
				t.Fatalf("Match = %q, %v, %q; want %q, %v, %q", got, ok, allow, tt.want, tt.want != "", tt.allow)
			}
			if gotParams := p.Map(); !maps.Equal(gotParams, tt.params) {
				t.Errorf("params = %v, want %v", gotParams, tt.params)
			}
		})
	}
}

func TestMatchNilAndEmptyTable(t *testing.T) {
	var p Params
	var nilTab *Table[int]
	if _, ok, allow := nilTab.Match("GET", "/", &p); ok || allow != "" {
		t.Errorf("nil table: ok=%v allow=%q, want a 404", ok, allow)
	}
	empty, err := New[int](nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, allow := empty.Match("GET", "/", &p); ok || allow != "" {
		t.Errorf("empty table: ok=%v allow=%q, want a 404", ok, allow)
	}
	if nilTab.Len() != 0 || empty.Len() != 0 {
		t.Errorf("Len of nil and empty tables = %d, %d", nilTab.Len(), empty.Len())
	}
}

func TestMatchManyLiteralChildren(t *testing.T) {
	// More literal children than maxLinearChildren puts them in a map; matching is the same.
	var specs []string
	for i := range 3 * maxLinearChildren {
		specs = append(specs, fmt.Sprintf("GET /s%d/{id}", i))
	}
	specs = append(specs, "GET /{any}/{id}")
	tab := buildTable(t, specs)
	if tab.root.litMap == nil {
		t.Fatal("root children not in a map")
	}
	var p Params
	for i := range 3 * maxLinearChildren {
		path := fmt.Sprintf("/s%d/x", i)
		got, ok, _ := tab.Match("GET", path, &p)
		if want := fmt.Sprintf("GET /s%d/{id}", i); !ok || got != want || p.Get("id") != "x" {
			t.Errorf("Match(%s) = %q, %v, id=%q; want %q", path, got, ok, p.Get("id"), want)
		}
	}
	if got, ok, _ := tab.Match("GET", "/other/x", &p); !ok || got != "GET /{any}/{id}" {
		t.Errorf("Match(/other/x) = %q, %v", got, ok)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		routes []string
		want   []string // substrings of the error, one per problem
	}{
		{"same route twice", []string{"GET /a/{id}", "GET /a/{id}"}, []string{"route 1 (GET /a/{id}): conflicts with route 0 (GET /a/{id})"}},
		{"same shape other names", []string{"POST /a/{id}/b", "POST /a/{x}/b"}, []string{"route 1 (POST /a/{x}/b): conflicts with route 0"}},
		{"ANY after GET", []string{"GET /a", "ANY /a"}, []string{"route 1 (ANY /a): conflicts with route 0 (GET /a)"}},
		{"GET after ANY", []string{"ANY /a", "GET /a"}, []string{"route 1 (GET /a): conflicts with route 0 (ANY /a)"}},
		{"lower-case methods", []string{"get /a", "GET /a"}, []string{"conflicts with route 0 (GET /a)"}},
		{"root twice", []string{"GET /", "ANY /"}, []string{"route 1 (ANY /): conflicts"}},
		{"bad method", []string{"HEAD /a", "FETCH /b"}, []string{`route 0 (HEAD /a): method "HEAD"`, `route 1 (FETCH /b): method "FETCH"`}},
		{"no leading slash", []string{"GET a"}, []string{"must start with /"}},
		{"empty pattern", []string{"GET "}, []string{"must start with /"}},
		{"trailing slash", []string{"GET /a/"}, []string{`segment 2 "": empty segment`}},
		{"double slash", []string{"GET /a//b"}, []string{"empty segment"}},
		{"partial param", []string{"GET /a/x{id}", "GET /a/{id}.json", "GET /{id"}, []string{"route 0", "route 1", "route 2", "whole segment"}},
		{"bad param name", []string{"GET /{}", "GET /{1a}", "GET /{a-b}"}, []string{"route 0", "route 1", "route 2", "parameter name"}},
		{"repeated param", []string{"GET /{id}/{id}"}, []string{"parameter {id} repeated"}},
		{"too many params", []string{"GET " + manyParams(MaxParams+1)}, []string{"more than 16 parameters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := make([]Route[int], len(tt.routes))
			for i, s := range tt.routes {
				method, pattern, _ := strings.Cut(s, " ")
				rs[i] = Route[int]{Method: method, Pattern: pattern, Target: i}
			}
			tab, err := New(rs)
			if err == nil {
				t.Fatalf("New succeeded, want an error")
			}
			if tab != nil {
				t.Errorf("New returned a table with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	// Same shape with different methods, and different shapes that overlap, are not conflicts.
	buildTable(t, []string{
		"GET /a/{id}", "POST /a/{x}", "PUT /a/{y}", "PATCH /a/{z}", "DELETE /a/{w}",
		"ANY /a/b", "GET /{p}/b", "ANY /{p}/{q}", "GET /_x/{Name_1}", "GET " + manyParams(MaxParams),
	})
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "/{p%d}", i)
	}
	return b.String()
}

func TestParams(t *testing.T) {
	tab := buildTable(t, []string{"GET /orders/{id}/items/{item}"})
	var p Params
	if _, ok, _ := tab.Match("GET", "/orders/42/items/7", &p); !ok {
		t.Fatal("no match")
	}
	if p.Len() != 2 {
		t.Fatalf("Len = %d", p.Len())
	}
	if n, v := p.At(1); n != "item" || v != "7" {
		t.Errorf("At(1) = %q, %q", n, v)
	}
	if p.Get("id") != "42" || p.Get("nope") != "" {
		t.Errorf("Get: id=%q nope=%q", p.Get("id"), p.Get("nope"))
	}
	var got []string
	for n, v := range p.All() {
		got = append(got, n+"="+v)
		break // All honours an early stop
	}
	if len(got) != 1 || got[0] != "id=42" {
		t.Errorf("All = %v", got)
	}
	p.Reset()
	if p.Len() != 0 || p.Get("id") != "" || p.Map() != nil {
		t.Errorf("after Reset: Len=%d Get=%q", p.Len(), p.Get("id"))
	}
	defer func() {
		if recover() == nil {
			t.Error("At out of range did not panic")
		}
	}()
	p.At(0)
}

func TestParamsMapCopies(t *testing.T) {
	tab := buildTable(t, []string{"GET /o/{id}"})
	buf := []byte("/o/42")
	var p Params
	// The path shares buf's memory, as Fiber's does.
	if _, ok, _ := tab.Match("GET", unsafeString(buf), &p); !ok {
		t.Fatal("no match")
	}
	m := p.Map()
	copy(buf, "/o/99")
	if m["id"] != "42" {
		t.Errorf("Map value changed with the request memory: %q", m["id"])
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tab := buildTable(t, routes)
	var p Params
	for _, path := range []string{"/orders/42/items/7", "/orders/new/items/7", "/a/z", "/hooks/x"} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok, _ := tab.Match("GET", path, &p); !ok {
				t.Fatalf("no match for %s", path)
			}
		})
		if allocs != 0 {
			t.Errorf("Match(%s) allocates %v times", path, allocs)
		}
	}
	for _, c := range []struct{ method, path string }{{"GET", "/nope/x"}, {"POST", "/orders/42"}} {
		allocs := testing.AllocsPerRun(100, func() { tab.Match(c.method, c.path, &p) })
		if allocs != 0 {
			t.Errorf("Match(%s %s) miss allocates %v times", c.method, c.path, allocs)
		}
	}
}

// unsafeString views b as a string without copying, as fasthttp does with request paths.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
