package amqp

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestDialURLErrors: a URL Dial refuses before it dials is reported without its password.
func TestDialURLErrors(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts Options
		want string
	}{
		{"amqp://guest:s3cret@host:port/", Options{}, "amqp url amqp://guest:xxxxx@host:port/"},
		{"amqp://guest:s3cret@127.0.0.1:5672/", Options{TLS: &tls.Config{}}, "TLS settings need an amqps:// URL"},
	} {
		q, err := Dial(tc.url, tc.opts)
		if err == nil {
			q.Close()
			t.Fatalf("Dial(%s) succeeded", tc.url)
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Dial(%s) = %v, want %q and no password", tc.url, err, tc.want)
		}
	}
}
