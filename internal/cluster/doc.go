// Package cluster is what several `edgefn serve` nodes sharing one Redis know of each other
// (docs/cluster.md). Today that is the node registry: each node's heartbeat writes its record
// (id, addresses, version, start time, the functions it runs and their state) under its
// cluster's keys in Redis, and any node lists the records, live or gone. Data enters through
// Config (the node's own description, a snapshot of its functions) and the Store; it leaves
// through Registry.Nodes, which the admin API serves. The cluster's shared state to come (the
// function registry) will live under the same cluster name.
package cluster
