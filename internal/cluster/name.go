package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgefn/edgefn/internal/keepfile"
)

// MaxNameLen bounds a node id and a cluster name.
const MaxNameLen = 64

// DefaultCluster is the cluster name when none is given.
const DefaultCluster = "edgefn"

// NodeIDFile is the file under the data dir that keeps a generated node id.
const NodeIDFile = "node-id"

// ValidName checks a node id or cluster name: 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-'. Such
// names cannot break a Redis key (no ':') or a log line.
func ValidName(s string) error {
	if s == "" {
		return errors.New("empty; want 1 to 64 of A-Z a-z 0-9 . _ -")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%d characters; want 1 to 64 of A-Z a-z 0-9 . _ -", len(s))
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return fmt.Errorf("%q has %q; want 1 to 64 of A-Z a-z 0-9 . _ -", s, s[i:i+1])
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// NodeID is the id kept in dataDir/node-id, generated (from host, a name a person can place,
// and 8 random hex digits) and written there at the first start, so that a restart on the same
// data dir is the same node. created says it was generated now. A file that holds no valid id
// is an error naming it, never silently replaced.
func NodeID(dataDir, host string) (id string, created bool, err error) {
	path := filepath.Join(dataDir, NodeIDFile)
	data, err := os.ReadFile(path)
	if err == nil {
		id = strings.TrimSpace(string(data))
		if err := ValidName(id); err != nil {
			return "", false, fmt.Errorf("%s: node id %v (fix the file or delete it to get a new id)", path, err)
		}
		return id, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	id = newNodeID(host)
	// Of two processes starting at once, one id wins; the other reads it.
	if created, err = keepfile.Create(path, id+"\n"); err != nil || !created {
		if err != nil {
			return "", false, err
		}
		return NodeID(dataDir, host)
	}
	return id, true, nil
}

// newNodeID is host reduced to name characters (at most 40 of them), a dash and 8 random hex
// digits; "node-" and the digits when nothing of host is left.
func newNodeID(host string) string {
	var b strings.Builder
	for i := 0; i < len(host) && b.Len() < 40; i++ {
		if nameByte(host[i]) {
			b.WriteByte(host[i])
		}
	}
	prefix := strings.Trim(b.String(), ".-_")
	if prefix == "" {
		prefix = "node"
	}
	r := make([]byte, 4)
	_, _ = rand.Read(r) // crypto/rand.Read never fails
	return prefix + "-" + hex.EncodeToString(r)
}
