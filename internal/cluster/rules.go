package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// RulesFile is one manifest file of a topic rule set, as it was deployed: its name and its
// whole text. Only its `kind: topics` documents count.
type RulesFile struct {
	File   string `json:"file"`
	Source string `json:"source"`
}

// RulesEntry is one kept version of a cluster's topic rules (docs/manifest.md, "Topic
// rules"): the files whose `kind: topics` documents, together, are the rule set.
type RulesEntry struct {
	Schema  int         `json:"schema"`
	Version int         `json:"version"`
	Files   []RulesFile `json:"files"`
	// DeployedAt is when the version was committed; DeployedBy who asked for it, as the
	// client said; Node the id of the node that committed it.
	DeployedAt time.Time `json:"deployedAt"`
	DeployedBy string    `json:"deployedBy,omitempty"`
	Node       string    `json:"node,omitempty"`
}

// EncodeRules is the stored form of e, with the current schema.
func EncodeRules(e RulesEntry) ([]byte, error) {
	e.Schema = entrySchema
	e.DeployedAt = e.DeployedAt.UTC()
	return json.Marshal(e)
}

// DecodeRules reads stored version n of the topic rules.
func DecodeRules(n int, data []byte) (RulesEntry, error) {
	var e RulesEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return RulesEntry{}, fmt.Errorf("topic rules v%d do not decode: %w", n, err)
	}
	if e.Schema < 1 || e.Schema > entrySchema {
		return RulesEntry{}, fmt.Errorf("topic rules v%d have schema %d; this node reads 1 to %d", n, e.Schema, entrySchema)
	}
	if e.Version != n {
		return RulesEntry{}, fmt.Errorf("topic rules v%d name v%d", n, e.Version)
	}
	return e, nil
}

// ErrNoRules is a rule set of no files, or a file of it with no `kind: topics` document.
var ErrNoRules = errors.New("no kind: topics document")

// ParseRules validates the files of a rule set as manifests (errors name file:line) and
// returns the rules of their `kind: topics` documents, in file and document order. A file
// with no topics document is an error: it would deploy nothing.
func ParseRules(files []RulesFile) ([]*manifest.TopicRule, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no manifest file: %w", ErrNoRules)
	}
	var (
		rules []*manifest.TopicRule
		errs  manifest.ErrorList
	)
	for _, f := range files {
		set, err := manifest.Parse(f.File, []byte(f.Source))
		var list manifest.ErrorList
		switch {
		case errors.As(err, &list):
			errs = append(errs, list...)
		case err != nil:
			return nil, err
		case len(set.Topics) == 0:
			return nil, fmt.Errorf("%s: %w", f.File, ErrNoRules)
		default:
			rules = append(rules, set.Topics...)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return rules, nil
}

// SameRules says whether two rule sets are of the same texts, in the same order (the files'
// names may differ).
func SameRules(a, b []RulesFile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Source != b[i].Source {
			return false
		}
	}
	return true
}

// RulesState is the topic rules' state in a store.
type RulesState struct {
	// Current is the current version, 0 when none was ever deployed.
	Current int
	// Versions are the kept versions, ascending.
	Versions []int
}

// RulesStore keeps the versions of a cluster's topic rules. Every change is one atomic step,
// announced to every Watch. Methods are safe for concurrent use.
type RulesStore interface {
	// Commit stores e as the next version (a number never given out before; a refused
	// commit may use one up) and makes it current, unless ifVersion refuses it (runtime.ChangeOptions: -1 none deployed yet, N
	// the current one must be N) with a *ConflictError. It keeps the newest keep versions.
	Commit(ctx context.Context, e RulesEntry, ifVersion, keep int) (int, error)
	// SetCurrent makes kept version n current if the current one is expect; a
	// *ConflictError if not, ErrGone when n is no longer kept.
	SetCurrent(ctx context.Context, n, expect int) error
	// State returns the current version and the kept ones.
	State(ctx context.Context) (RulesState, error)
	// Entry returns version n.
	Entry(ctx context.Context, n int) (RulesEntry, error)
	// Watch sends a value each time the rules change, or may have changed unseen (a
	// reconnect), until ctx ends; then it closes the channel. Nil: no one else changes them.
	Watch(ctx context.Context) <-chan struct{}
}
