package main

import (
	"encoding/json"
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestEchoBody(t *testing.T) {
	res, err := fntest.Invoke(t, fn.HandlerFunc(Echo), fntest.HTTP("POST", "/echo", nil, []byte("raw\x00bytes")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != "raw\x00bytes" || res.Headers["Content-Type"] != "application/octet-stream" {
		t.Fatalf("got %q %v", res.Body, res.Headers)
	}
}

func TestEchoDescribesGET(t *testing.T) {
	ev := fntest.HTTP("GET", "/echo/a/b?x=1&x=2", map[string]string{"first": "a", "second": "b"}, nil)
	ev.Claims = map[string]any{"sub": "u1"}
	res, err := fntest.Invoke(t, fn.HandlerFunc(Echo), ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	var d Description
	if err := json.Unmarshal(res.Body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Path != "/echo/a/b" || d.Params["second"] != "b" || len(d.Query["x"]) != 2 || d.Claims["sub"] != "u1" {
		t.Fatalf("description = %+v", d)
	}
}

func TestEchoDescribesACloudEvent(t *testing.T) {
	ev := fntest.HTTP("GET", "/echo/a/b", map[string]string{"first": "a", "second": "b"}, nil)
	ev.ID, ev.Type, ev.Source, ev.Subject = "e1", "com.example.created", "/orders", "order-1"
	ev.Headers = map[string]string{"Ce-Id": "e1", "Ce-Type": "com.example.created", "Ce-Tenant": "acme"}
	res, err := fntest.Invoke(t, fn.HandlerFunc(Echo), ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	var d Description
	if err := json.Unmarshal(res.Body, &d); err != nil {
		t.Fatal(err)
	}
	ce := d.CloudEvent
	if ce == nil || ce.ID != "e1" || ce.Type != "com.example.created" || ce.Source != "/orders" || ce.Subject != "order-1" ||
		len(ce.Extensions) != 1 || ce.Extensions["tenant"] != "acme" {
		t.Fatalf("description = %s", res.Body)
	}
	// A plain call has no type, and no cloudEvent in its description.
	res, _ = fntest.Invoke(t, fn.HandlerFunc(Echo), fntest.HTTP("GET", "/echo", nil, nil), 0)
	var plain Description
	if json.Unmarshal(res.Body, &plain) != nil || plain.CloudEvent != nil {
		t.Fatalf("a plain call described as %s", res.Body)
	}
}
