package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgefn/edgefn/internal/cluster"
)

// newRules keeps the deployed topic rules (docs/manifest.md, "Topic rules"): in the shared
// registry with --redis, announced to every node, else under DATA_DIR/topics.
func (a *app) newRules() (*cluster.Rules, error) {
	var store cluster.RulesStore = cluster.NewFileRules(filepath.Join(a.o.dataDir, "topics"))
	if a.be.redis != nil {
		rs, err := cluster.NewRedisRules(a.be.redis, a.o.cluster)
		if err != nil {
			return nil, err
		}
		store = rs
	}
	return cluster.NewRules(cluster.RulesConfig{
		Store: store, Apply: a.hub.SetRules, NodeID: a.o.nodeID, Keep: a.o.keepVersions, Logger: a.logger,
		// The heartbeat says so soon: edgefn deploy waits for it. The rules are first used in
		// run, once the node registry is made.
		Used: func(int) { a.nodes.Poke() },
	})
}

// startRules deploys the start-up manifests' topic rules on a node alone; with --redis it
// adds them to the registry where it holds none, else uses the registry's (and says so when
// they differ). Then it follows the store.
func (a *app) startRules(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, readTimeoutRules)
	defer cancel()
	if err := a.rules.Seed(sctx, a.startupRuleFiles(), a.be.redis == nil); err != nil {
		a.logger.Error("topic rules: the deployed rules were not read at start; the start-up manifests' rules are in use", "error", err)
	}
	a.rules.Start()
}

// readTimeoutRules bounds the first read of the deployed topic rules.
const readTimeoutRules = 10 * time.Second

// startupRuleFiles are the start-up manifest files that hold topics documents, in order.
func (a *app) startupRuleFiles() []cluster.RulesFile {
	if a.set == nil {
		return nil
	}
	var names []string
	for _, r := range a.set.Topics {
		if !slices.Contains(names, r.File) {
			names = append(names, r.File)
		}
	}
	var files []cluster.RulesFile
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			a.logger.Warn("topic rules: start-up manifest not read again", "file", name, "error", err)
			return nil
		}
		files = append(files, cluster.RulesFile{File: name, Source: string(data)})
	}
	return files
}

// rulesPath is the admin API's topic rules.
const rulesPath = adminPrefix + "/topics"

// rulesResult is the answer of a deploy or rollback of the topic rules.
type rulesResult struct {
	Version   int  `json:"version"`
	Rules     int  `json:"rules"`
	Unchanged bool `json:"unchanged"`
}

// deployRules deploys the `kind: topics` documents of files, all of them together, as the
// new topic rules of the cluster (docs/cli.md#edgefn-deploy); files without any deploy none.
func deployRules(ctx context.Context, c *client, stdout io.Writer, files []manifestFile) (*change, error) {
	var body struct {
		Files []cluster.RulesFile `json:"files"`
	}
	for _, f := range files {
		if len(f.set.Topics) > 0 {
			body.Files = append(body.Files, cluster.RulesFile{File: f.path, Source: string(f.data)})
		}
	}
	if len(body.Files) == 0 {
		return nil, nil
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var res rulesResult
	err = c.callJSON(ctx, request{
		method: http.MethodPut, path: rulesPath, header: http.Header{deployerHeader: {deployer()}},
		body: bytes.NewReader(data), contentType: "application/json", contentLength: int64(len(data)),
		getBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
	}, &res)
	if err != nil {
		return nil, fmt.Errorf("deploy topic rules: %w", err)
	}
	if res.Unchanged {
		fmt.Fprintf(stdout, "topic rules unchanged at version %d\n", res.Version)
	} else {
		fmt.Fprintf(stdout, "deployed topic rules version %d (%d rules)\n", res.Version, res.Rules)
	}
	return &change{version: res.Version, topics: true}, nil
}

// rollbackRules makes the previous version of the topic rules current again.
func rollbackRules(ctx context.Context, c *client, stdout io.Writer, wait time.Duration) error {
	var res rulesResult
	r := request{method: http.MethodPost, path: rulesPath + "/rollback" + c.ifVersionQuery(),
		header: http.Header{deployerHeader: {deployer()}}}
	if err := c.callJSON(ctx, r, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "topic rules rolled back to version %d (%d rules)\n", res.Version, res.Rules)
	return waitForNodes(ctx, c, stdout, wait, []change{{version: res.Version, topics: true}})
}
