package e2e

import (
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// redisURL returns the Redis the tests may use, skipping loudly when it is unreachable (and
// failing under CI, where it must be up).
func redisURL(t testing.TB) string {
	t.Helper()
	return needService(t, "EDGEFN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0", "REDIS")
}

// amqpURL is redisURL for RabbitMQ.
func amqpURL(t testing.TB) string {
	t.Helper()
	return needService(t, "EDGEFN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/", "RABBITMQ")
}

func needService(t testing.TB, env, def, name string) string {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		msg := name + " UNREACHABLE at " + u.Host + " (" + env + "): " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("!!! SKIPPED: " + msg)
	}
	c.Close()
	return raw
}
