package main

import (
	"net/http"
	"testing"
)

const getJSON = `{"name":"hello","version":3,"state":"ready","instances":2,"ready":2,` +
	`"triggers":["http GET /hello/{name}","websocket chat.*","schedule @every 1m (UTC)"],"deployedAt":"2026-03-01T10:00:00Z",` +
	`"invocations":10,"failures":1,"inflight":4,"restarts":2,"breaker":"half-open",` +
	`"runtime":{"GOMAXPROCS":"1","GOGC":"400"},"nodes":{"ready":1,"total":3},"perNode":[` +
	`{"node":"a","name":"hello","version":3,"state":"ready","ready":true},` +
	`{"node":"b","name":"hello","version":2,"state":"starting","ready":false,"startError":"binary changed since its deploy"},` +
	`{"node":"c","name":"hello","version":0,"state":"","ready":false}],` +
	`"schedules":[{"index":2,"cron":"@every 1m","timezone":"UTC","next":"2026-03-01T10:01:00Z","paused":false}]}`

func TestGet(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/hello",
		answer: answerJSON(http.StatusOK, getJSON),
	})
	res := runCLI(t, "get", "hello", "--server", url)
	want := "name: hello\nversion: 3\nstate: ready\ninstances: 2/2\n" +
		"triggers: http GET /hello/{name}, websocket chat.*, schedule @every 1m (UTC) next 2026-03-01T10:01:00Z\n" +
		"deployed: 2026-03-01T10:00:00Z\n" +
		"invocations: 10\nfailures: 1\ninflight: 4\nrestarts: 2\nbreaker: half-open\n" +
		"runtime: GOGC=400 GOMAXPROCS=1\n" +
		"nodes: 1/3\n  a: v3 ready\n  b: v2 starting (not ready): binary changed since its deploy\n  c: not running\n"
	wantOutput(t, res, exitOK, want)
}

func TestGetJSON(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/hello",
		answer: answerJSON(http.StatusOK, getJSON+"\n"),
	})
	res := runCLI(t, "get", "hello", "--server", url, "--output", "json")
	wantOutput(t, res, exitOK, getJSON+"\n")
}

func TestGetNotFound(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/functions/nope",
		answer: answerJSON(http.StatusNotFound, `{"error":{"code":"not_found","message":"function \"nope\" is not deployed","requestId":"r"}}`),
	})
	res := runCLI(t, "get", "nope", "--server", url)
	wantOutput(t, res, exitError, "", "edgefn: function \"nope\" is not deployed\n")
}
