package cluster

import (
	"context"
	"time"
)

// Store keeps the node records of one cluster, each expiring ttl after its last write. Its
// clock (not the nodes') dates the beats, so that nodes whose clocks disagree agree on who is
// live. Methods are safe for concurrent use.
type Store interface {
	// Beat writes the record of n.ID, to expire ttl from now.
	Beat(ctx context.Context, n Node, ttl time.Duration) error
	// Records returns the store's time and the records not expired yet, newest beat first,
	// at most max of them. A record that does not decode is returned with its ID, its
	// LastSeen and Error set.
	Records(ctx context.Context, max int) (now time.Time, nodes []Node, err error)
}
