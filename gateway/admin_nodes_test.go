package gateway

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/cluster"
)

// getNodes GETs /admin/v1/nodes with the admin token.
func getNodes(t *testing.T, s *Server) (int, []byte) {
	t.Helper()
	base := listen(t, s.Serve)
	req, _ := http.NewRequest(http.MethodGet, base+"/admin/v1/nodes", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestAdminNodesAlone(t *testing.T) {
	r, err := cluster.New(cluster.Config{Cluster: "c1", Self: cluster.Node{ID: "solo", Address: "127.0.0.1:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	status, body := getNodes(t, newTestServer(t, Config{Nodes: r}))
	var l cluster.List
	if err := json.Unmarshal(body, &l); status != 200 || err != nil {
		t.Fatalf("%d %s (%v)", status, body, err)
	}
	if l.Cluster != "c1" || len(l.Nodes) != 1 || l.Nodes[0].ID != "solo" || l.Nodes[0].State != cluster.Live {
		t.Errorf("list %s", body)
	}
}

// TestAdminNodesStoreAway: a Redis that does not answer is a 503 that says so, not a hang.
func TestAdminNodesStoreAway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	client := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	store, err := cluster.NewRedisStore(client, "c1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := cluster.New(cluster.Config{Cluster: "c1", Store: store, Self: cluster.Node{ID: "solo"}})
	if err != nil {
		t.Fatal(err)
	}
	status, body := getNodes(t, newTestServer(t, Config{Nodes: r}))
	if status != 503 || !strings.Contains(string(body), `"code":"unavailable","message":"node registry: redis: list nodes`) {
		t.Errorf("%d %s", status, body)
	}
}

func TestAdminNodesWithoutRegistry(t *testing.T) {
	status, body := getNodes(t, newTestServer(t, Config{}))
	if status != 404 || !strings.Contains(string(body), "no node registry") {
		t.Errorf("%d %s", status, body)
	}
}
