package main

import (
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestAudit(t *testing.T) {
	before := seen.Load()
	if _, err := fntest.Invoke(t, fn.HandlerFunc(Audit), fntest.Message("stream/job-events", "JobDone", map[string]any{"id": "j", "sum": 1}), 0); err != nil {
		t.Fatal(err)
	}
	if seen.Load() != before+1 {
		t.Fatal("not counted")
	}
	if _, err := fntest.Invoke(t, fn.HandlerFunc(Audit), fntest.Message("stream/job-events", "JobDone", "{"), 0); err == nil {
		t.Fatal("a broken event must fail")
	}
}
