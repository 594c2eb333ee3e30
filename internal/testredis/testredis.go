// Package testredis gives tests a client of the test Redis (EDGEFN_TEST_REDIS_URL, default
// redis://127.0.0.1:6379/0). When that Redis cannot be reached the test is skipped loudly,
// or fails when CI is set: CI must have it.
package testredis

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const defaultURL = "redis://127.0.0.1:6379/0"

// URL is the test Redis.
func URL() string {
	if u := os.Getenv("EDGEFN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return defaultURL
}

// reachable probes the test Redis once per test binary.
var reachable = sync.OnceValue(func() error {
	opt, err := goredis.ParseURL(URL())
	if err != nil {
		return fmt.Errorf("EDGEFN_TEST_REDIS_URL: %w", err)
	}
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
})

// Client returns a client of the test Redis whose connections carry name (so a test can
// find and drop them), closed when the test ends.
func Client(tb testing.TB, name string) *goredis.Client {
	tb.Helper()
	if err := reachable(); err != nil {
		msg := fmt.Sprintf("REDIS UNREACHABLE: %s: %v (set EDGEFN_TEST_REDIS_URL or start Redis)", URL(), err)
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	opt, err := goredis.ParseURL(URL())
	if err != nil {
		tb.Fatal(err)
	}
	opt.ClientName = name
	c := goredis.NewClient(opt)
	tb.Cleanup(func() { c.Close() })
	return c
}
