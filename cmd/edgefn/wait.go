package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgefn/edgefn/internal/cluster"
)

// defaultWait is how long deploy, rollback and delete wait for the cluster by default.
const defaultWait = 30 * time.Second

// waitEvery is how often the wait reads the node list; nodes beat every 2 s.
const waitEvery = 250 * time.Millisecond

// addWaitFlag gives cmd --wait.
func addWaitFlag(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "wait", defaultWait, "wait up to this long until every live node of the cluster runs the change (0: do not wait)")
}

// change is what a deploy, rollback or delete asks every node to run: the function at
// version, or, with version 0, not at all.
type change struct {
	name    string
	version int
	// topics: the change is of the topic rules (no name), to version.
	topics bool
}

// reached reports whether the node runs c: the version with a ready instance (or scaled to
// zero), or, for a delete, no version at all; for the topic rules, that version.
func (c change) reached(n cluster.Node) bool {
	if c.topics {
		return n.TopicRules == c.version
	}
	for _, f := range n.Functions {
		if f.Name == c.name {
			return c.version != 0 && f.Version == c.version && f.Ready
		}
	}
	return c.version == 0
}

// describe is how the node runs c's function, for the report of a node that did not get there.
func (c change) describe(n cluster.Node) string {
	if c.topics {
		return fmt.Sprintf("topic rules v%d", n.TopicRules)
	}
	for _, f := range n.Functions {
		if f.Name == c.name {
			return c.name + " " + nodeState(&f)
		}
	}
	return c.name + " not running"
}

// errNotEverywhere is the error of a wait that ended with a node not running the change.
var errNotEverywhere = errors.New("not every node runs the change")

// waitForNodes waits, up to d, until every live node of the cluster runs every change (docs/cli.md,
// "Waiting for the cluster"), reading the node list of the server c talks to. With more than
// one live node it then prints a line per node; it fails naming the nodes that do not run
// the changes when d has passed. A server without a node registry, or d of 0, is not waited
// for. A node that stops beating drops out of the live nodes, and so out of the wait.
func waitForNodes(ctx context.Context, c *client, w io.Writer, d time.Duration, changes []change) error {
	if d <= 0 || len(changes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		live    []cluster.Node
		lastErr error
	)
	tick := time.NewTicker(waitEvery)
	defer tick.Stop()
	for {
		var l cluster.List
		err := c.getJSON(ctx, "/admin/v1/nodes", &l)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			return nil // a server without a node registry
		case err == nil:
			live, lastErr = liveOf(l), nil
			if changes = superseded(ctx, c, w, changes); len(changes) == 0 {
				return nil
			}
			if len(lagging(live, changes)) == 0 {
				printReached(w, live, changes)
				return nil
			}
		case ctx.Err() == nil:
			lastErr = err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return ctx.Err()
			}
			if lastErr != nil {
				return fmt.Errorf("%w after %s: the node list did not answer: %v", errNotEverywhere, d, lastErr)
			}
			printReached(w, live, changes)
			return fmt.Errorf("%w after %s: %s", errNotEverywhere, d, strings.Join(lagging(live, changes), ", "))
		}
	}
}

// superseded drops the changes that a later one replaced (another deploy, rollback or
// delete meanwhile: the server that made the change no longer runs it), saying so, and
// returns the others. They are not waited for: the nodes go on to the later change.
func superseded(ctx context.Context, c *client, w io.Writer, changes []change) []change {
	var out []change
	for _, ch := range changes {
		if ch.topics {
			var cur rulesResult
			if err := c.getJSON(ctx, rulesPath, &cur); err == nil && cur.Version != ch.version {
				fmt.Fprintf(w, "topic rules are at version %d now: not waiting for version %d\n", cur.Version, ch.version)
				continue
			}
			out = append(out, ch)
			continue
		}
		var info functionInfo
		err := c.getJSON(ctx, functionPath(ch.name), &info)
		var ae *apiError
		switch {
		case err == nil && ch.version != 0 && info.Version != ch.version:
			fmt.Fprintf(w, "%s is at version %d now: not waiting for version %d\n", ch.name, info.Version, ch.version)
		case err == nil && ch.version == 0:
			fmt.Fprintf(w, "%s is deployed again (version %d): not waiting for its delete\n", ch.name, info.Version)
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound && ch.version != 0:
			fmt.Fprintf(w, "%s is deleted now: not waiting for version %d\n", ch.name, ch.version)
		default:
			out = append(out, ch)
		}
	}
	return out
}

func liveOf(l cluster.List) []cluster.Node {
	return slices.DeleteFunc(slices.Clone(l.Nodes), func(n cluster.Node) bool { return n.State != cluster.Live })
}

// lagging names the nodes that do not run every change.
func lagging(nodes []cluster.Node, changes []change) []string {
	var out []string
	for _, n := range nodes {
		for _, c := range changes {
			if !c.reached(n) {
				out = append(out, n.ID)
				break
			}
		}
	}
	return out
}

// printReached writes a line per node, when there is more than one: "  NODE: ok", or what it
// runs instead of each change.
func printReached(w io.Writer, nodes []cluster.Node, changes []change) {
	if len(nodes) < 2 {
		return
	}
	for _, n := range nodes {
		var not []string
		for _, c := range changes {
			if !c.reached(n) {
				not = append(not, c.describe(n))
			}
		}
		if len(not) == 0 {
			fmt.Fprintf(w, "  %s: ok\n", n.ID)
		} else {
			fmt.Fprintf(w, "  %s: not yet: %s\n", n.ID, strings.Join(not, "; "))
		}
	}
}
