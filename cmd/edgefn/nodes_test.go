package main

import (
	"net/http"
	"testing"
	"time"
)

const nodesJSON = `{"cluster":"edgefn","listedAt":"2026-03-01T12:00:00Z","nodes":[` +
	`{"id":"edge-1","address":"10.0.0.1:8080","adminAddress":"10.0.0.1:8080","version":"1.4.0",` +
	`"started":"2026-03-01T09:00:00Z","lastSeen":"2026-03-01T11:59:59Z","state":"live","functions":[` +
	`{"name":"hello","version":3,"state":"ready","ready":true},{"name":"worker","version":1,"state":"starting","ready":false,"startError":"boom"}]},` +
	`{"id":"edge-2","address":"10.0.0.2:8080","adminAddress":"10.0.0.2:9090","version":"1.3.9",` +
	`"started":"2026-02-26T12:00:00Z","lastSeen":"2026-03-01T11:57:00Z","stopped":"2026-03-01T11:57:00Z","state":"gone","functions":[]},` +
	`{"id":"odd","address":"","adminAddress":"","version":"","started":"0001-01-01T00:00:00Z","lastSeen":"2026-03-01T11:59:58Z",` +
	`"state":"live","functions":[],"error":"node \"odd\": record of schema 2, this node reads 1 to 1"}]}`

func TestNodesTable(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/nodes", token: "tok",
		answer: answerJSON(http.StatusOK, nodesJSON),
	})
	res := runCLI(t, "nodes", "--server", url, "--token", "tok")
	want := "" +
		"ID       ADDRESS         VERSION   STARTED   LAST SEEN   STATE                                                           FUNCTIONS\n" +
		"edge-1   10.0.0.1:8080   1.4.0     3h ago    1s ago      live                                                            1/2\n" +
		"edge-2   10.0.0.2:8080   1.3.9     3d ago    3m ago      gone                                                            0/0\n" +
		"odd      -               -         -         2s ago      live (node \"odd\": record of schema 2, this node reads 1 to 1)   0/0\n"
	wantOutput(t, res, exitOK, want)
}

func TestNodesJSONIsRaw(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/nodes",
		answer: answerJSON(http.StatusOK, nodesJSON),
	})
	res := runCLI(t, "nodes", "--server", url, "-o", "json")
	wantOutput(t, res, exitOK, nodesJSON+"\n")
}

func TestNodesRegistryAway(t *testing.T) {
	url, _ := fakeAdmin(t, adminCall{
		method: http.MethodGet, path: "/admin/v1/nodes",
		answer: answerJSON(http.StatusServiceUnavailable, `{"error":{"code":"unavailable","message":"node registry: redis: list nodes: dial tcp: connection refused"}}`),
	})
	res := runCLI(t, "nodes", "--server", url)
	wantOutput(t, res, exitError, "", "edgefn: node registry: redis: list nodes: dial tcp: connection refused\n")
}

func TestNodesBadOutput(t *testing.T) {
	res := runCLI(t, "nodes", "-o", "yaml")
	wantOutput(t, res, exitUsage, "", `--output "yaml": want text or json`)
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0: "0s ago", -time.Second: "0s ago", 59 * time.Second: "59s ago", time.Minute: "1m ago",
		47 * time.Hour: "47h ago", 49 * time.Hour: "2d ago",
	} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
	if got := ago(now, time.Time{}); got != "-" {
		t.Errorf("ago(zero) = %q", got)
	}
}
