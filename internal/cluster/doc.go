// Package cluster is what several `edgefn serve` nodes sharing one Redis know of each other
// and share (docs/cluster.md).
//
// The node registry: each node's heartbeat writes its record (id, addresses, version, start
// time, the functions it runs and their state) under its cluster's keys in Redis, and any
// node lists the records, live or gone. Data enters through Config (the node's own
// description, a snapshot of its functions) and the Store; it leaves through Registry.Nodes,
// which the admin API serves.
//
// The shared function registry: every kept version of every function (FunctionStore, an Entry
// each) and their binaries (Blobs, content-addressed) live under the same cluster name. Sync
// makes this node run what the registry holds: it reads it whole at start, after a reconnect
// and periodically, and one function at each change notified (Watch), fetching and checking
// each binary into a cache under the data dir before the runtime.Host starts it. Changes
// enter through Sync's DeployWith, RollbackWith and Delete, which the admin API calls; each is
// one atomic step in the registry.
//
// The topic rules: the versions of the cluster's WebSocket topic rules (RulesStore: RedisRules
// with --redis, FileRules in the data dir of a node alone, a RulesEntry each). Rules hands the
// current version to the node's hub at start (Seed adds the start-up manifests' rules where
// none are stored), at each change notified and periodically; Rules.Deploy and Rollback, which
// the admin API calls, change them in one atomic step.
package cluster
