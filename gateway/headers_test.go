package gateway

import (
	"testing"
)

func TestHeaderValidity(t *testing.T) {
	names := map[string]bool{
		"X-Ok": true, "Content-Type": true, "x_under~score!#$%&'*+.^`|": true,
		"": false, "Bad Name": false, "X-Colon:": false, "X\r\nEvil": false, "X\x00": false,
		"X(y)": false, "Ünicode": false, "X\x7f": false,
	}
	for name, want := range names {
		if got := validHeaderName(name); got != want {
			t.Errorf("validHeaderName(%q) = %v, want %v", name, got, want)
		}
		if got := validHeaderName([]byte(name)); got != want {
			t.Errorf("validHeaderName([]byte %q) = %v, want %v", name, got, want)
		}
	}
	values := map[string]bool{
		"": true, "fine": true, "a\tb": true, `"quoted", (parens) ü`: true,
		"a\r\nSet-Cookie: x=1": false, "a\nb": false, "a\x00b": false, "\x1b[31m": false, "a\x7fb": false,
	}
	for v, want := range values {
		if got := validHeaderValue(v); got != want {
			t.Errorf("validHeaderValue(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestHopByHop(t *testing.T) {
	for _, k := range []string{"Connection", "content-length", "Transfer-Encoding", "KEEP-ALIVE", "Upgrade",
		"Trailer", "TE", "Proxy-Connection", "X-Request-ID", "x-request-id"} {
		if !hopByHop(k) {
			t.Errorf("hopByHop(%q) = false, want true", k)
		}
	}
	for _, k := range []string{"Content-Type", "Cache-Control", "X-Request", "Teapot", "Trailers", "Location", ""} {
		if hopByHop(k) {
			t.Errorf("hopByHop(%q) = true, want false", k)
		}
	}
}

// BenchmarkHeaderChecks is what checkHeaders adds to a request with ten typical headers.
func BenchmarkHeaderChecks(b *testing.B) {
	headers := [][2][]byte{
		{[]byte("Host"), []byte("api.example.com")},
		{[]byte("User-Agent"), []byte("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")},
		{[]byte("Accept"), []byte("application/json, text/plain, */*")},
		{[]byte("Accept-Encoding"), []byte("gzip, deflate, br")},
		{[]byte("Accept-Language"), []byte("en-US,en;q=0.9")},
		{[]byte("Authorization"), []byte("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIiwiZXhwIjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlc2lnbmF0dXJlc2ln")},
		{[]byte("Content-Type"), []byte("application/json")},
		{[]byte("Content-Length"), []byte("128")},
		{[]byte("X-Request-Id"), []byte("0123456789abcdef0123456789abcdef")},
		{[]byte("Traceparent"), []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, h := range headers {
			if !validHeaderName(h[0]) || !validHeaderValue(h[1]) {
				b.Fatal("a typical header refused")
			}
		}
	}
}
