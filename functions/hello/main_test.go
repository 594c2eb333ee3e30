package main

import (
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestHello(t *testing.T) {
	cases := []struct {
		target string
		params map[string]string
		want   string
	}{
		{"/hello/ada", map[string]string{"name": "ada"}, `{"message":"hello, ada"}`},
		{"/hello/ada?greeting=hi", map[string]string{"name": "ada"}, `{"message":"hi, ada"}`},
		{"/hello", nil, `{"message":"hello, world"}`},
	}
	for _, c := range cases {
		res, err := fntest.Invoke(t, fn.HandlerFunc(Hello), fntest.HTTP("GET", c.target, c.params, nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != 200 || string(res.Body) != c.want {
			t.Errorf("%s: got %d %s, want 200 %s", c.target, res.Status, res.Body, c.want)
		}
	}
}
