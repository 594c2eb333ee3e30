package manifest

import (
	"strings"
	"testing"
)

func httpFn(name string, routes ...string) *Function {
	fn := &Function{Name: name, File: name + ".yaml", Line: 1}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		fn.Triggers = append(fn.Triggers, Trigger{HTTP: &HTTPTrigger{Method: method, Path: path, Auth: "none", Async: "allowed"}})
	}
	return fn
}

func TestCheckConflicts(t *testing.T) {
	tests := []struct {
		name string
		fns  []*Function
		want string // "" for no conflict
	}{
		{"params named differently", []*Function{httpFn("a", "GET /a/{x}"), httpFn("b", "GET /a/{y}")},
			"b.yaml:1: triggers[0].http.path: GET /a/{y} conflicts with a (a.yaml:1)"},
		{"literal beside param", []*Function{httpFn("a", "GET /a/{x}"), httpFn("b", "GET /a/b")}, ""},
		{"different methods", []*Function{httpFn("a", "GET /a"), httpFn("b", "POST /a")}, ""},
		{"ANY against one method", []*Function{httpFn("a", "DELETE /a"), httpFn("b", "GET /x", "ANY /a")},
			"b.yaml:1: triggers[1].http.path: ANY /a conflicts with a (a.yaml:1)"},
		{"one method against ANY", []*Function{httpFn("a", "ANY /a"), httpFn("b", "PATCH /a")},
			"b.yaml:1: triggers[0].http.path: PATCH /a conflicts with a (a.yaml:1)"},
		{"case is ignored", []*Function{httpFn("a", "GET /Orders"), httpFn("b", "GET /orders")},
			"b.yaml:1: triggers[0].http.path: GET /orders conflicts with a (a.yaml:1)"},
		{"within one function", []*Function{httpFn("a", "GET /a", "GET /a")},
			"a.yaml:1: triggers[1].http.path: GET /a conflicts with a (a.yaml:1)"},
		{"longer path", []*Function{httpFn("a", "GET /a/{x}"), httpFn("b", "GET /a/{x}/c")}, ""},
		{"root", []*Function{httpFn("a", "GET /"), httpFn("b", "ANY /")},
			"b.yaml:1: triggers[0].http.path: ANY / conflicts with a (a.yaml:1)"},
		{"invalid routes are left to validation", []*Function{httpFn("a", "GET /admin"), httpFn("b", "GET /admin")}, ""},
		{"duplicate name", []*Function{httpFn("a"), httpFn("a")},
			`a.yaml:1: name: duplicate function name "a" (also at a.yaml:1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConflicts(tt.fns)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckConflicts:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestCheckRoutePath(t *testing.T) {
	good := []string{"/", "/a", "/orders/{id}", "/a/{x}/b/{y}", "/v1.2/~me_x-y", "/wsx", "/api/admin", "/{first}"}
	for _, p := range good {
		if msg := checkRoutePath(p); msg != "" {
			t.Errorf("checkRoutePath(%q) = %q, want ok", p, msg)
		}
	}
	bad := map[string]string{
		"a":            `must start with "/"`,
		"//":           "empty path segment",
		"/a/":          "empty path segment",
		"/./a":         `path segment "." is not allowed`,
		"/a/{b}/{b}":   `duplicate parameter "b"`,
		"/a/*":         `invalid path segment "*": must be {name} or match [A-Za-z0-9._~-]+`,
		"/a?b=1":       `invalid path segment "a?b=1": must be {name} or match [A-Za-z0-9._~-]+`,
		"/admin":       "route prefix /admin is reserved",
		"/ADMIN/x":     "route prefix /admin is reserved",
		"/requests":    "route prefix /requests is reserved",
		"/metrics/x/y": "route prefix /metrics is reserved",
	}
	for p, want := range bad {
		if got := checkRoutePath(p); got != want {
			t.Errorf("checkRoutePath(%q) = %q, want %q", p, got, want)
		}
	}
}
