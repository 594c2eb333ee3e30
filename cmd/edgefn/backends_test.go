package main

import (
	"strings"
	"testing"

	"github.com/edgefn/edgefn/internal/broker"
	"github.com/edgefn/edgefn/internal/testtls"
)

func TestRedisOptions(t *testing.T) {
	certs := testtls.New(t, "redis")
	opts, err := redisOptions("rediss://app:s3cret@localhost:6380/2?skip_verify=false", broker.TLSFiles{CA: certs.CA, Cert: certs.ClientCert, Key: certs.ClientKey})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Username != "app" || opts.Password != "s3cret" || opts.DB != 2 {
		t.Errorf("user %q, password %q, db %d: want app, s3cret, 2", opts.Username, opts.Password, opts.DB)
	}
	if c := opts.TLSConfig; c == nil || c.RootCAs == nil || len(c.Certificates) != 1 || c.ServerName != "localhost" {
		t.Errorf("TLS config %+v: want the CA, the client certificate and the server name localhost", c)
	}
	if opts, err := redisOptions("redis://:s3cret@localhost:6379", broker.TLSFiles{}); err != nil || opts.TLSConfig != nil {
		t.Errorf("redis:// without TLS files: %v, TLS %v", err, opts.TLSConfig)
	}
	for _, tc := range []struct {
		url   string
		files broker.TLSFiles
		want  string
	}{
		{"redis://app:s3cret@localhost:6379", broker.TLSFiles{CA: certs.CA}, "need a rediss:// URL"},
		{"redis://app:s3cret@localhost:port", broker.TLSFiles{}, "--redis redis://app:xxxxx@localhost:port"},
		{"http://app:s3cret@localhost", broker.TLSFiles{}, "invalid URL scheme"},
		{"rediss://app:s3cret@localhost:6380", broker.TLSFiles{Cert: certs.ClientCert}, "needs both"},
	} {
		_, err := redisOptions(tc.url, tc.files)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: %v, want %q", tc.url, tc.files, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", tc.url, err)
		}
	}
}
