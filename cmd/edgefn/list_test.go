package main

import (
	"net/http"
	"testing"
)

const listJSON = `{"functions":[` +
	`{"name":"hello","version":3,"state":"ready","instances":2,"ready":1,"nodes":{"ready":2,"total":3},` +
	`"triggers":["http GET /hello/{name}","http GET /hello"],"deployedAt":"2026-03-01T10:00:00Z",` +
	`"invocations":10,"failures":1,"inflight":0,"restarts":0,"breaker":"closed"},` +
	`{"name":"worker","version":12,"state":"starting","instances":1,"ready":0,"triggers":[]},` +
	`{"name":"thumbs","version":1,"state":"idle","instances":0,"ready":0,"min":0,"max":8,"triggers":[]},` +
	`{"name":"api","version":2,"state":"ready","instances":3,"ready":3,"min":1,"max":4,"triggers":[]}]}`

func TestListTable(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions", token: "tok",
		answer: answerJSON(http.StatusOK, listJSON),
	})
	res := runCLI(t, "list", "--server", url, "--token", "tok")
	want := "" +
		"NAME     VERSION   STATE      INSTANCES    NODES   TRIGGERS\n" +
		"hello    3         ready      1/2          2/3     http GET /hello/{name}, http GET /hello\n" +
		"worker   12        starting   0/1          -       -\n" +
		"thumbs   1         idle       0/0 (idle)   -       -\n" +
		"api      2         ready      3/3 (1-4)    -       -\n"
	wantOutput(t, res, exitOK, want)
}

func TestListJSONIsRaw(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions",
		answer: answerJSON(http.StatusOK, listJSON),
	})
	res := runCLI(t, "list", "--server", url, "-o", "json")
	wantOutput(t, res, exitOK, listJSON+"\n")
}

func TestListEmpty(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions",
		answer: answerJSON(http.StatusOK, `{"functions":[]}`),
	})
	res := runCLI(t, "list", "--server", url)
	wantOutput(t, res, exitOK, "", "no functions deployed")
}

// TestListSchedules: a schedule trigger shows its next run, or paused, beside the NODES column.
func TestListSchedules(t *testing.T) {
	body := `{"functions":[` +
		`{"name":"clock","version":1,"state":"ready","instances":1,"ready":1,"nodes":{"ready":2,"total":2},` +
		`"triggers":["http GET /clock","schedule @every 10s (UTC)"],` +
		`"schedules":[{"index":1,"cron":"@every 10s","timezone":"UTC","next":"2026-12-08T09:30:10Z","paused":false}]},` +
		`{"name":"report","version":2,"state":"ready","instances":1,"ready":1,` +
		`"triggers":["schedule 0 2 * * * (Europe/Berlin)"],` +
		`"schedules":[{"index":0,"cron":"0 2 * * *","timezone":"Europe/Berlin","next":"2026-12-09T01:00:00Z","paused":true}]}]}`
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions", token: "tok",
		answer: answerJSON(http.StatusOK, body),
	})
	res := runCLI(t, "list", "--server", url, "--token", "tok")
	want := "" +
		"NAME     VERSION   STATE   INSTANCES   NODES   TRIGGERS\n" +
		"clock    1         ready   1/1         2/2     http GET /clock, schedule @every 10s (UTC) next 2026-12-08T09:30:10Z\n" +
		"report   2         ready   1/1         -       schedule 0 2 * * * (Europe/Berlin) paused\n"
	wantOutput(t, res, exitOK, want)
}
