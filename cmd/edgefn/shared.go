package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/cluster"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// newShared is the shared function registry of --redis: every node runs what it holds
// (docs/cluster.md). The binaries fetched from it are cached under DATA_DIR/blobs.
func (a *app) newShared() (*cluster.Sync, error) {
	if a.o.keepVersions < 1 {
		return nil, fmt.Errorf("--keep-versions %d: must be 1 or more", a.o.keepVersions)
	}
	fns, err := cluster.NewRedisFunctions(a.be.redis, a.o.cluster)
	if err != nil {
		return nil, err
	}
	blobs, err := cluster.NewRedisBlobs(a.be.redis, a.o.cluster, 0)
	if err != nil {
		return nil, err
	}
	checkRedisForRegistry(a.be.redis, a.logger)
	return cluster.NewSync(cluster.SyncConfig{
		Store: fns, Blobs: blobs, Host: a.host, CacheDir: filepath.Join(a.o.dataDir, "blobs"),
		NodeID: a.o.nodeID, Keep: a.o.keepVersions, Logger: a.logger, Seed: a.seed,
	})
}

// checkRedisForRegistry warns when the Redis may evict the registry's keys or lose them at a
// restart (docs/cluster.md: it needs noeviction and persistence). A Redis that does not let
// CONFIG GET be called is not checked.
func checkRedisForRegistry(client *goredis.Client, logger interface {
	Warn(string, ...any)
}) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conf, err := client.ConfigGet(ctx, "*").Result()
	if err != nil {
		logger.Warn("redis: could not check maxmemory-policy and persistence (CONFIG GET); the function registry needs noeviction and persistence", "error", err)
		return
	}
	if p := conf["maxmemory-policy"]; p != "" && p != "noeviction" {
		logger.Warn("redis: maxmemory-policy may evict the function registry's keys; set it to noeviction", "maxmemory-policy", p)
	}
	if conf["appendonly"] == "no" && strings.TrimSpace(conf["save"]) == "" {
		logger.Warn("redis: neither AOF nor RDB snapshots are on; a restart of Redis loses the function registry")
	}
}

// seed adds the start-up manifests' functions to the registry where it holds none of that
// name; where it holds one that differs, it wins, and one warning names them with the
// command that would deploy them (docs/cluster.md).
func (a *app) seed(ctx context.Context) {
	if a.set == nil {
		return
	}
	var differ, files []string
	for _, m := range a.set.Functions {
		e, found, err := a.shared.Current(ctx, m.Name)
		if err != nil {
			a.logger.Warn("start-up manifest not compared with the registry", "function", m.Name, "error", err)
			continue
		}
		if found {
			if !sameAsEntry(m, e) {
				differ = append(differ, m.Name)
				if !slices.Contains(files, m.File) {
					files = append(files, m.File)
				}
			}
			continue
		}
		if err := a.seedOne(ctx, m); err != nil {
			a.logger.Error("start-up manifest not added to the registry", "function", m.Name, "error", fmt.Sprintf("%s:%d: %v", m.File, m.Line, err))
		}
	}
	if len(differ) > 0 {
		a.logger.Warn("start-up manifests differ from the function registry, which wins", "functions", differ,
			"deploy_with", "edgefn deploy "+strings.Join(files, " "))
	}
}

// seedOne builds m when it says so and deploys it if the registry still holds no version.
func (a *app) seedOne(ctx context.Context, m *manifest.Function) error {
	binary := m.Handler
	if m.Build != "" {
		binary = filepath.Join(a.o.dataDir, "build", m.Name)
		if err := os.MkdirAll(filepath.Dir(binary), 0o700); err != nil {
			return err
		}
		if err := runtime.Build(ctx, m.Build, binary); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	res, err := a.shared.DeployWith(ctx, m, binary, "", runtime.ChangeOptions{IfVersion: runtime.NotDeployed, By: "serve --manifests on " + a.o.nodeID})
	if errors.Is(err, runtime.ErrVersionConflict) {
		return nil // another node added it first; this node runs it as the registry says
	}
	if err != nil {
		return err
	}
	a.logger.Info("manifest function ready", "function", res.Name, "version", res.Version, "unchanged", res.Unchanged)
	return nil
}

// sameAsEntry says whether m is the registry's e: the same manifest, and the same binary
// unless m is built at start (then its source alone is compared).
func sameAsEntry(m *manifest.Function, e cluster.Entry) bool {
	if string(m.Source) != e.Manifest {
		return false
	}
	if m.Build != "" {
		return true
	}
	f, err := os.Open(m.Handler)
	if err != nil {
		return false
	}
	defer f.Close()
	h := runtime.NewSum()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return runtime.SumHex(h) == e.SHA256
}

// deployer is who deploys, as edgefn's commands tell the server: user@host.
func deployer() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
