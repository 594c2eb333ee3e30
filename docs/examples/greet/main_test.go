package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestGreet(t *testing.T) {
	ev := fntest.HTTP("POST", "/greet/lobby", map[string]string{"room": "lobby"}, map[string]string{"name": "ada"})
	res, err := fntest.Invoke(t, fn.HandlerFunc(Greet), ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	var g Greeting
	if err := json.Unmarshal(res.Body, &g); err != nil || res.Status != 201 || g.Text != "hello, ada" {
		t.Fatalf("got %d %s (%v)", res.Status, res.Body, err)
	}
	if len(res.Emitted) != 1 || res.Emitted[0].Target != "greetings" || res.Emitted[0].Type != "Greeted" {
		t.Errorf("emitted %+v", res.Emitted)
	}
	if len(res.Notified) != 1 || res.Notified[0].Topic != "rooms.lobby" {
		t.Errorf("notified %+v", res.Notified)
	}
}

func TestGreetRefusesNoName(t *testing.T) {
	_, err := fntest.Invoke(t, fn.HandlerFunc(Greet), fntest.HTTP("POST", "/greet/lobby", nil, map[string]string{}), 0)
	var fe *fn.Error
	if !errors.As(err, &fe) || fe.Status != 422 {
		t.Fatalf("got %v, want a 422 fn.Error", err)
	}
}
