package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestSubmitQueuesTheJob(t *testing.T) {
	res, err := fntest.Invoke(t, fn.HandlerFunc(Submit), fntest.HTTP("POST", "/jobs", nil, Job{ID: "j1", N: 3}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 202 || len(res.Emitted) != 1 {
		t.Fatalf("result %d with %d emitted", res.Status, len(res.Emitted))
	}
	m := res.Emitted[0]
	var job Job
	json.Unmarshal(m.Data, &job)
	if !m.Queue || m.Target != "jobs" || m.Type != "JobSubmitted" || m.ID != "j1" || job.N != 3 {
		t.Fatalf("emitted %+v", m)
	}
}

func TestSubmitRefusesBadJobs(t *testing.T) {
	for _, body := range []any{"not json", Job{N: -1}} {
		_, err := fntest.Invoke(t, fn.HandlerFunc(Submit), fntest.HTTP("POST", "/jobs", nil, body), 0)
		var fe *fn.Error
		if !errors.As(err, &fe) || fe.Status/100 != 4 {
			t.Fatalf("body %v: err %v, want a 4xx", body, err)
		}
	}
}
