package broker

import (
	"crypto/tls"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/internal/testtls"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://app:s3cret@127.0.0.1:6379/0", "redis://app:xxxxx@127.0.0.1:6379/0"},
		{"rediss://:s3cret@host:6380", "rediss://:xxxxx@host:6380"},
		{"amqps://guest:p%40ss@rabbit:5671/vh", "amqps://guest:xxxxx@rabbit:5671/vh"},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://app@127.0.0.1:6379", "redis://app@127.0.0.1:6379"},
		// Does not parse (a bad port): masked by hand.
		{"redis://app:s3cret@host:port/0", "redis://app:xxxxx@host:port/0"},
		// Does not parse (a bad port), and the password holds an "@".
		{"amqp://u:pa@ss@host:bad/", "amqp://u:xxxxx@host:bad/"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactError(t *testing.T) {
	raw := "redis://app:s3cret@host:port/0"
	_, perr := url.Parse(raw)
	if perr == nil || !strings.Contains(perr.Error(), "s3cret") {
		t.Fatalf("url.Parse(%q) = %v: the test wants an error that shows the password", raw, perr)
	}
	err := RedactError(perr, raw)
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), Mask) {
		t.Errorf("RedactError = %q, want the password masked", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("RedactError lost the *url.Error in the chain")
	}
	// The encoded and decoded forms of a password are both masked.
	raw = "amqp://guest:p%40ss%2Fword@host:5672/"
	err = RedactError(errors.New("bad: p@ss/word and p%40ss%2Fword"), raw)
	if strings.Contains(err.Error(), "ss/word") || strings.Contains(err.Error(), "ss%2Fword") {
		t.Errorf("RedactError = %q, want both forms masked", err)
	}
	plain := io.EOF
	if RedactError(plain, raw) != plain {
		t.Errorf("an error without the password changed")
	}
	if RedactError(nil, raw) != nil {
		t.Errorf("RedactError(nil) is not nil")
	}
}

// TestTLSFilesConfig dials a TLS server whose certificate the given CA signed, and one it
// did not, and a server that wants a client certificate with and without one.
func TestTLSFilesConfig(t *testing.T) {
	good, other := testtls.New(t, "good"), testtls.New(t, "other")
	serve := func(cfg *tls.Config) string {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { _ = c.(*tls.Conn).Handshake(); _, _ = c.Write([]byte("x")); c.Close() }()
			}
		}()
		return ln.Addr().String()
	}
	dial := func(addr string, f TLSFiles) error {
		cfg, err := f.Config("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		// TLS 1.3 reports a refused client certificate at the first read.
		_, err = c.Read(make([]byte, 1))
		return err
	}
	plain := serve(good.ServerConfig(t, false))
	mutual := serve(good.ServerConfig(t, true))
	if err := dial(plain, TLSFiles{CA: good.CA}); err != nil {
		t.Errorf("the right CA: %v", err)
	}
	if err := dial(plain, TLSFiles{CA: other.CA}); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("another CA: %v, want an unknown authority", err)
	}
	if err := dial(mutual, TLSFiles{CA: good.CA, Cert: good.ClientCert, Key: good.ClientKey}); err != nil {
		t.Errorf("with a client certificate: %v", err)
	}
	if err := dial(mutual, TLSFiles{CA: good.CA}); err == nil {
		t.Errorf("a server wanting a client certificate took a client without one")
	}
}

func TestTLSFilesErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := testtls.New(t, "good")
	for _, tc := range []struct {
		f    TLSFiles
		want string
	}{
		{TLSFiles{CA: filepath.Join(dir, "missing.pem")}, "ca file: open"},
		{TLSFiles{CA: notPEM}, "no PEM certificate in it"},
		{TLSFiles{Cert: good.ClientCert}, "needs both its certificate file and its key file"},
		{TLSFiles{Key: good.ClientKey}, "needs both its certificate file and its key file"},
		{TLSFiles{Cert: good.ClientCert, Key: notPEM}, "client certificate"},
	} {
		_, err := tc.f.Config("h")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
	if !(TLSFiles{}).IsZero() || (TLSFiles{CA: "x"}).IsZero() {
		t.Errorf("IsZero")
	}
}
