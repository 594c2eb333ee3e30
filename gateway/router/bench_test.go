package router

import (
	"fmt"
	"testing"
)

// benchRoutes is a plausible deployment: a few hundred routes, shared prefixes, parameters.
func benchRoutes() []string {
	specs := append([]string(nil), routes...)
	for i := range 100 {
		specs = append(specs,
			fmt.Sprintf("GET /svc%d/{id}", i),
			fmt.Sprintf("POST /svc%d/{id}/actions/{action}", i),
			fmt.Sprintf("GET /svc%d/static/list", i),
		)
	}
	return specs
}

func BenchmarkMatch(b *testing.B) {
	tab := buildTable(b, benchRoutes())
	cases := []struct{ name, method, path string }{
		{"root", "GET", "/"},
		{"literal", "GET", "/svc57/static/list"},
		{"param1", "GET", "/orders/42"},
		{"param2", "POST", "/svc99/123456/actions/refund"},
		{"backtrack", "GET", "/orders/new/items/7"},
		{"405", "POST", "/orders/42"},
		{"404", "GET", "/svc57/static/nope/deeper"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var p Params
			b.ReportAllocs()
			for b.Loop() {
				tab.Match(c.method, c.path, &p)
			}
		})
	}
}

func BenchmarkMatchParallel(b *testing.B) {
	tab := buildTable(b, benchRoutes())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var p Params
		for pb.Next() {
			tab.Match("GET", "/orders/42/items/7", &p)
		}
	})
}
