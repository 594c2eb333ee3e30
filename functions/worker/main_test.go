package main

import (
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestWorkEmitsJobDone(t *testing.T) {
	res, err := fntest.Invoke(t, fn.HandlerFunc(Work), fntest.Message("queue/jobs", "JobSubmitted", Job{ID: "j1", N: 4}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Emitted) != 1 || res.Emitted[0].Target != "job-events" || string(res.Emitted[0].Data) != `{"id":"j1","sum":10}` {
		t.Fatalf("emitted %+v", res.Emitted)
	}
}

func TestWorkFailsPoison(t *testing.T) {
	if _, err := fntest.Invoke(t, fn.HandlerFunc(Work), fntest.Message("queue/jobs", "JobSubmitted", Job{Fail: true}), 0); err == nil {
		t.Fatal("a failing job must fail")
	}
	if _, err := fntest.Invoke(t, fn.HandlerFunc(Work), fntest.Message("queue/jobs", "JobSubmitted", "{not json"), 0); err == nil {
		t.Fatal("an undecodable job must fail")
	}
}
