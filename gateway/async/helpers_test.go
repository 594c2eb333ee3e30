package async

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/internal/testredis"
)

// redisTestClient returns a client of the test Redis, closed when the test ends. When Redis
// cannot be reached the test is skipped loudly, or fails when CI is set.
func redisTestClient(tb testing.TB) *goredis.Client {
	tb.Helper()
	return testredis.Client(tb, "edgefn-async-test")
}

// redisTestPrefix returns a key prefix no other test uses, and deletes its keys when the
// test ends.
func redisTestPrefix(tb testing.TB, c *goredis.Client) string {
	tb.Helper()
	r := strings.NewReplacer("/", "-", " ", "-", "*", "-", "?", "-", "[", "-", "]", "-", `\`, "-")
	prefix := fmt.Sprintf("edgefn-test-async:%s-%s:", r.Replace(tb.Name()), testID(tb)[:8])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		err := iter.Err()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			tb.Logf("cleanup: del %s*: %v", prefix, err)
		}
	})
	return prefix
}

// testID returns a fresh correlation ID: 128 random bits in hex.
func testID(tb testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}
