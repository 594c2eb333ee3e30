package cluster

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgefn/edgefn/runtime"
)

// State is whether a node is taking part in its cluster.
type State string

const (
	// Live is a node whose last heartbeat is at most the gone timeout old.
	Live State = "live"
	// Gone is a node that stopped (cleanly, or its heartbeats stopped a timeout ago).
	Gone State = "gone"
)

// Node is one node as the registry lists it (GET /admin/v1/nodes, docs/http.md).
type Node struct {
	// ID is the node's stable id (--node-id, else DATA_DIR/node-id).
	ID string `json:"id"`
	// Address is where it serves functions: --advertise, else its listen address.
	Address string `json:"address"`
	// AdminAddress is where its admin API answers.
	AdminAddress string `json:"adminAddress"`
	// Version is its edgefn version.
	Version string `json:"version"`
	// Started is when the node started, on its own clock.
	Started time.Time `json:"started"`
	// LastSeen is its last heartbeat, on the registry's clock (Redis' TIME): nodes whose
	// clocks disagree still agree on who is live.
	LastSeen time.Time `json:"lastSeen"`
	// Stopped is when it stopped cleanly; zero while it runs or when it died.
	Stopped time.Time `json:"stopped,omitzero"`
	// State is Live or Gone, decided by Liveness when the list is made.
	State State `json:"state"`
	// Functions are the functions it runs, sorted by name.
	Functions []Function `json:"functions"`
	// TopicRules is the version of the deployed topic rules it uses; 0 when none were
	// deployed (docs/cluster.md#topic-rules).
	TopicRules int `json:"topicRules,omitempty"`
	// Error says why its record could not be read; its other fields are then empty.
	Error string `json:"error,omitempty"`
}

// Function is one function as a node runs it.
type Function struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// State is the function's state on the node (runtime.Info.State: ready, degraded,
	// starting or failing).
	State string `json:"state"`
	// Ready is whether the node has a ready instance of it, or can start one (it is scaled to
	// zero): the rule of /readyz.
	Ready bool `json:"ready"`
	// StartError is why its processes cannot start, while they cannot.
	StartError string `json:"startError,omitempty"`
}

// FunctionOf is the heartbeat's view of a function's runtime.Info.
func FunctionOf(info runtime.Info) Function {
	return Function{Name: info.Name, Version: info.Version, State: info.State,
		Ready: info.Ready > 0 || info.State == "idle", StartError: info.StartError}
}

// Liveness is the state of a node whose last heartbeat is age old (both ends on the
// registry's clock): Gone once it stopped cleanly or age is over timeout, Live otherwise.
func Liveness(stopped bool, age, timeout time.Duration) State {
	if stopped || age > timeout {
		return Gone
	}
	return Live
}

// List is the answer of GET /admin/v1/nodes.
type List struct {
	// Cluster is the cluster's name (--cluster).
	Cluster string `json:"cluster"`
	// ListedAt is when the list was made, on the registry's clock; it is what LastSeen is
	// compared with.
	ListedAt time.Time `json:"listedAt"`
	// Nodes are live nodes first, then gone ones, each by id.
	Nodes []Node `json:"nodes"`
}

// sortNodes puts live nodes first, then gone ones, each group by id.
func sortNodes(nodes []Node) {
	slices.SortFunc(nodes, func(a, b Node) int {
		if a.State != b.State {
			if a.State == Live {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// schema is the version of the stored record's layout. A node reads records of its own
// schema and of older ones; fields a newer schema adds are ignored, and a newer schema that
// changes a field's meaning must take a new number, which older nodes report instead of
// misreading.
const schema = 1

// record is a node's record as stored: its Node without the fields the reader decides
// (LastSeen, State).
type record struct {
	Schema int  `json:"schema"`
	Node   Node `json:"node"`
}

// encodeRecord is the stored form of n.
func encodeRecord(n Node) ([]byte, error) {
	n.LastSeen, n.State, n.Error = time.Time{}, "", ""
	return json.Marshal(record{Schema: schema, Node: n})
}

// decodeRecord reads a stored record of the node id. A record that does not decode, of a
// newer schema or of another node's id is an error.
func decodeRecord(id string, data []byte) (Node, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return Node{}, fmt.Errorf("node %q: record does not decode: %w", id, err)
	}
	if r.Schema < 1 || r.Schema > schema {
		return Node{}, fmt.Errorf("node %q: record of schema %d, this node reads 1 to %d", id, r.Schema, schema)
	}
	if r.Node.ID != id {
		return Node{}, fmt.Errorf("node %q: record names node %q", id, r.Node.ID)
	}
	if r.Node.Functions == nil {
		r.Node.Functions = []Function{}
	}
	return r.Node, nil
}
