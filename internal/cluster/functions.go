package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultKeep is how many versions of a function the shared registry keeps (serve
// --keep-versions, docs/cluster.md).
const DefaultKeep = 5

// entrySchema is the version of an Entry's layout. A node reads entries of its own schema and
// of older ones; fields a newer schema adds are ignored, and a newer schema that changes a
// field's meaning must take a new number, which older nodes report rather than misread:
// nodes of two releases can share a registry during a rolling upgrade.
const entrySchema = 1

// Entry is one kept version of a function in the shared registry. It is stored as the bytes
// EncodeEntry makes, never re-encoded by a reader, so that a later release can sign them.
type Entry struct {
	Schema  int    `json:"schema"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	// File is the manifest's file name as it was deployed; Manifest is its source.
	File     string `json:"file"`
	Manifest string `json:"manifest"`
	// SHA256 is the plugin binary's sha256, hex: the name of its blob.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// DeployedAt is when the version was committed, on the committing node's clock.
	DeployedAt time.Time `json:"deployedAt"`
	// DeployedBy is who asked for it, as the client said (edgefn deploy sends user@host).
	DeployedBy string `json:"deployedBy,omitempty"`
	// Node is the id of the node that committed it.
	Node string `json:"node"`
}

// EncodeEntry is the stored form of e, with the current schema.
func EncodeEntry(e Entry) ([]byte, error) {
	e.Schema = entrySchema
	e.DeployedAt = e.DeployedAt.UTC()
	return json.Marshal(e)
}

// DecodeEntry reads a stored entry of version n of name. An entry that does not decode, of a
// newer schema, or that names another function or version is an error.
func DecodeEntry(name string, n int, data []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, fmt.Errorf("registry entry %s v%d does not decode: %w", name, n, err)
	}
	if e.Schema < 1 || e.Schema > entrySchema {
		return Entry{}, fmt.Errorf("registry entry %s v%d has schema %d; this node reads 1 to %d", name, n, e.Schema, entrySchema)
	}
	if e.Name != name || e.Version != n {
		return Entry{}, fmt.Errorf("registry entry %s v%d names %s v%d", name, n, e.Name, e.Version)
	}
	if len(e.SHA256) != 64 {
		return Entry{}, fmt.Errorf("registry entry %s v%d has no sha256", name, n)
	}
	return e, nil
}

// Errors of a FunctionStore.
var (
	// ErrBlobMissing is a commit whose binary's blob is not stored (it expired, or was
	// collected meanwhile): store it again and retry.
	ErrBlobMissing = errors.New("the binary's blob is not in the registry")
	// ErrGone is a rollback to a version no longer kept.
	ErrGone = errors.New("the version is no longer kept")
)

// ConflictError is a change refused because the function's current version is Current (0: not
// deployed), not the one the change required.
type ConflictError struct{ Current int }

func (e *ConflictError) Error() string { return fmt.Sprintf("the current version is %d", e.Current) }

// FunctionState is a function's state in the registry.
type FunctionState struct {
	Name string
	// Current is its current version, 0 when it is not deployed.
	Current int
	// Versions are its kept versions, ascending.
	Versions []int
}

// Snapshot is the whole registry as one read sees it.
type Snapshot struct {
	// Epoch names the registry's life: it is set by the first commit to an empty registry,
	// so a Redis that lost its data (restarted without persistence) shows another one, or
	// none.
	Epoch string
	// Current is each deployed function's current entry.
	Current map[string]Entry
	// Bad is each deployed function whose current entry cannot be read, with why.
	Bad map[string]string
}

// Change says that a function changed in the registry: a deploy or rollback (Deleted false),
// or a delete. A Change with Resync set names no function: the notifications may have missed
// some (a reconnect), and the whole registry must be read again.
type Change struct {
	Name    string
	Deleted bool
	Resync  bool
	// Down, when set, says the notifications stopped (why): until the next Resync, changes
	// may be missed.
	Down string
	// Blob, when set, names a binary a deploy has begun to store (RedisBlobs.Put), before its
	// commit: nodes may fetch it meanwhile.
	Blob string
}

// FunctionStore is the shared function registry of one cluster. Every change is one atomic
// step, announced to every Watch. Methods are safe for concurrent use.
type FunctionStore interface {
	// Next reserves the next version number of name: one never given out before, also after
	// a delete of the function.
	Next(ctx context.Context, name string) (int, error)
	// Commit stores e (e.Version from Next) and makes it current, unless ifVersion (see
	// runtime.ChangeOptions) refuses it with a *ConflictError; ErrBlobMissing when its blob
	// is not stored. It keeps the newest keep versions, the current one always, and returns
	// the sums of the blobs no kept version refers to any more.
	Commit(ctx context.Context, e Entry, ifVersion, keep int) (unreferenced []string, err error)
	// SetCurrent makes kept version n of name current if the current one is expect; a
	// *ConflictError if not, ErrGone when n is no longer kept.
	SetCurrent(ctx context.Context, name string, n, expect int) error
	// Delete forgets every version of name (not its numbers) and announces the delete even
	// when the registry did not hold it (found false), so that nodes that still run it stop.
	Delete(ctx context.Context, name string) (unreferenced []string, found bool, err error)
	// Function returns name's state; Current 0 when it is not deployed.
	Function(ctx context.Context, name string) (FunctionState, error)
	// Entry returns version n of name.
	Entry(ctx context.Context, name string, n int) (Entry, error)
	// Snapshot reads the whole registry.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Watch sends the changes to the registry on the channel it returns until ctx ends, then
	// closes it. The first value, and the first after every reconnect, is a Resync. A
	// reader that falls behind misses changes, never a Resync that follows them.
	Watch(ctx context.Context) <-chan Change
}

// Blobs keeps the plugin binaries of the registry once each, named by their sha256 (hex). Put
// and Get may be called concurrently; a blob stored is never changed, only removed.
type Blobs interface {
	// Has reports whether the blob sum is stored.
	Has(ctx context.Context, sum string) (bool, error)
	// Put stores the file at path as the blob sum, which the caller computed.
	Put(ctx context.Context, sum, path string) error
	// Get writes the blob sum to w, as stored: the caller checks its sum.
	Get(ctx context.Context, sum string, w io.Writer) error
	// Collect removes the blob sum if no kept version refers to it any more.
	Collect(ctx context.Context, sum string) error
}
