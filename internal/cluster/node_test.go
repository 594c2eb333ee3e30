package cluster

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime"
)

func TestLiveness(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stopped bool
		age     time.Duration
		want    State
	}{
		{"fresh", false, 0, Live},
		{"at the timeout", false, 10 * time.Second, Live},
		{"past the timeout", false, 10*time.Second + time.Millisecond, Gone},
		{"stopped cleanly", true, 0, Gone},
		{"clock ahead of the reader", false, -time.Second, Live},
	} {
		if got := Liveness(tc.stopped, tc.age, 10*time.Second); got != tc.want {
			t.Errorf("%s: Liveness(%v, %v) = %s, want %s", tc.name, tc.stopped, tc.age, got, tc.want)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	n := Node{
		ID: "node-a", Address: "10.0.0.1:8080", AdminAddress: "10.0.0.1:9090", Version: "1.2.3",
		Started: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), LastSeen: time.Now(), State: Live,
		Functions: []Function{{Name: "hello", Version: 3, State: "starting", StartError: "exec: no such file"}},
	}
	data, err := encodeRecord(n)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["schema"] != float64(1) {
		t.Errorf("record %s: schema is not 1", data)
	}
	if strings.Contains(string(data), "lastSeen\":\"2") || strings.Contains(string(data), `"state":"live"`) {
		t.Errorf("record %s stores what the reader decides (lastSeen, state)", data)
	}
	got, err := decodeRecord("node-a", data)
	if err != nil {
		t.Fatal(err)
	}
	n.LastSeen, n.State = time.Time{}, ""
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(n)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("round trip:\n%s\nwant\n%s", gotJSON, wantJSON)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"not JSON", `{"schema":1,`, `node "a": record does not decode`},
		{"newer schema", `{"schema":2,"node":{"id":"a"}}`, `node "a": record of schema 2, this node reads 1 to 1`},
		{"no schema", `{"node":{"id":"a"}}`, `record of schema 0`},
		{"another id", `{"schema":1,"node":{"id":"b"}}`, `node "a": record names node "b"`},
	} {
		_, err := decodeRecord("a", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	// Fields a newer release adds within the same schema are ignored.
	n, err := decodeRecord("a", []byte(`{"schema":1,"node":{"id":"a","zone":"eu-1"},"extra":true}`))
	if err != nil || n.ID != "a" || n.Functions == nil {
		t.Errorf("record with unknown fields: %+v, %v", n, err)
	}
}

func TestFunctionOf(t *testing.T) {
	f := FunctionOf(runtime.Info{Name: "hello", Version: 2, State: "degraded", Instances: 2, Ready: 1})
	if f != (Function{Name: "hello", Version: 2, State: "degraded", Ready: true}) {
		t.Errorf("degraded: %+v", f)
	}
	f = FunctionOf(runtime.Info{Name: "hello", Version: 2, State: "starting", Instances: 1, StartError: "boom"})
	if f.Ready || f.StartError != "boom" {
		t.Errorf("starting: %+v", f)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "node-1", "edge_fn.eu-west-1", strings.Repeat("x", 64)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q): %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                      "empty",
		strings.Repeat("x", 65): "65 characters",
		"a:b":                   `"a:b" has ":"`,
		"node 1":                `has " "`,
		"nœud":                  "want 1 to 64 of A-Z a-z 0-9 . _ -",
		"a/b":                   `has "/"`,
	} {
		err := ValidName(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidName(%q) = %v, want an error with %q", bad, err, want)
		}
	}
}

func TestNodeIDIsKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // not there yet
	id, created, err := NodeID(dir, "web-1.example.com")
	if err != nil || !created {
		t.Fatalf("first start: %q, created %v, %v", id, created, err)
	}
	if ValidName(id) != nil || !strings.HasPrefix(id, "web-1.example.com-") || len(id) != len("web-1.example.com-")+8 {
		t.Errorf("generated id %q, want web-1.example.com- and 8 hex digits", id)
	}
	again, created, err := NodeID(dir, "another-host")
	if err != nil || created || again != id {
		t.Errorf("restart: %q, created %v, %v; want %q kept", again, created, err, id)
	}
	data, err := os.ReadFile(filepath.Join(dir, NodeIDFile))
	if err != nil || string(data) != id+"\n" {
		t.Errorf("node-id file %q, %v", data, err)
	}
}

func TestNodeIDFromOddHost(t *testing.T) {
	for host, prefix := range map[string]string{"": "node-", "::1": "1-", "üï": "node-", "ünï": "n-", strings.Repeat("h", 80): strings.Repeat("h", 40) + "-"} {
		id := newNodeID(host)
		if ValidName(id) != nil || !strings.HasPrefix(id, prefix) {
			t.Errorf("newNodeID(%q) = %q, want a valid id starting %q", host, id, prefix)
		}
	}
}

func TestNodeIDFileInvalid(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, NodeIDFile)
	if err := os.WriteFile(path, []byte("not a valid id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := NodeID(dir, "h")
	if err == nil || !strings.Contains(err.Error(), path+": node id") || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("invalid file: %v", err)
	}
}
