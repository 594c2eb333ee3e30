package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// clusterAdmin is an admin API of a cluster of nodes a and b: a rollback to version 3 of
// hello, after which the server runs version current, and a node list in which b reaches
// version 3 after lag lists (never when lag < 0).
func clusterAdmin(t *testing.T, lag, current int) string {
	t.Helper()
	var lists atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /admin/v1/functions/hello/rollback":
			fmt.Fprint(w, `{"name":"hello","version":3}`)
		case "GET /admin/v1/functions/hello":
			fmt.Fprintf(w, `{"name":"hello","version":%d,"state":"ready"}`, current)
		case "GET /admin/v1/nodes":
			n := int(lists.Add(1))
			bVersion, bReady := 2, true
			if lag >= 0 && n > lag {
				bVersion = 3
			}
			fmt.Fprintf(w, `{"cluster":"c","nodes":[`+
				`{"id":"a","state":"live","functions":[{"name":"hello","version":3,"state":"ready","ready":true}]},`+
				`{"id":"b","state":"live","functions":[{"name":"hello","version":%d,"state":"ready","ready":%v}]},`+
				`{"id":"c","state":"gone","functions":[]}]}`, bVersion, bReady)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A rollback waits until every live node runs the version (a gone node is not waited for),
// then says so node by node.
func TestRollbackWaitsForTheNodes(t *testing.T) {
	url := clusterAdmin(t, 3, 3)
	res := runCLI(t, "rollback", "hello", "--server", url)
	wantOutput(t, res, exitOK, "hello rolled back to version 3\n  a: ok\n  b: ok\n")
}

// A node that does not get there within --wait fails the command, named with what it runs.
func TestRollbackWaitGivesUp(t *testing.T) {
	url := clusterAdmin(t, -1, 3)
	res := runCLI(t, "rollback", "hello", "--server", url, "--wait", "600ms")
	wantOutput(t, res, exitError, "hello rolled back to version 3\n  a: ok\n  b: not yet: hello v2 ready\n",
		"not every node runs the change after 600ms: b")
}

// --wait 0 does not read the node list.
func TestRollbackWithoutWait(t *testing.T) {
	url := clusterAdmin(t, -1, 3)
	res := runCLI(t, "rollback", "hello", "--server", url, "--wait", "0")
	wantOutput(t, res, exitOK, "hello rolled back to version 3\n")
}

// A change that a later one replaced is not waited for: the nodes go on to the later one.
func TestRollbackSupersededIsNotWaitedFor(t *testing.T) {
	url := clusterAdmin(t, -1, 4)
	res := runCLI(t, "rollback", "hello", "--server", url, "--wait", "10s")
	wantOutput(t, res, exitOK, "hello rolled back to version 3\nhello is at version 4 now: not waiting for version 3\n")
}
