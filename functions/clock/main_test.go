package main

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestClockNotifiesTheTick(t *testing.T) {
	at := time.Date(2026, 12, 8, 9, 30, 5, 0, time.UTC)
	ev := &fn.Event{ID: "schedule/clock/0/1796722205", Type: "edgefn.schedule", Source: "schedule/clock", Time: at}
	res, err := fntest.Invoke(t, fn.HandlerFunc(Handle), ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notified) != 1 || res.Notified[0].Topic != Topic {
		t.Fatalf("notified %+v; want one notification on %s", res.Notified, Topic)
	}
	var tick Tick
	if err := json.Unmarshal(res.Notified[0].Data, &tick); err != nil {
		t.Fatal(err)
	}
	if tick != (Tick{Text: "tick 09:30:05 UTC", At: "2026-12-08T09:30:05Z", ID: ev.ID}) {
		t.Fatalf("tick %+v", tick)
	}
}

func TestClockRefusesOtherEvents(t *testing.T) {
	_, err := fntest.Invoke(t, fn.HandlerFunc(Handle), fntest.HTTP("POST", "/clock", nil, nil), 0)
	var fe *fn.Error
	if !errors.As(err, &fe) || fe.Status != 400 {
		t.Fatalf("an HTTP event gave %v; want a 400", err)
	}
}
