package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"
)

// TestChunkedUploadKeepsTheConnection: a deploy sent with chunked transfer encoding (curl -T,
// or a client that streams without a length) is read to its end, so the next request on the
// same keep-alive connection is answered as itself, not taken for the rest of the upload.
func TestChunkedUploadKeepsTheConnection(t *testing.T) {
	g := startGateway(t, "")
	manifest := "name: c\nhandler: ./handler\ntriggers:\n  - http: {method: GET, path: \"/c/{op}\"}\n"
	ct, body := deployForm(t, manifest, bins.testfn)
	client, trace, conns := oneConnClient(t)
	send := func(method, path string, body io.Reader) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), method, g.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+g.AdminToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(out)
	}
	for i := range 2 { // deployed, then unchanged
		// A reader of unknown length: net/http sends it chunked.
		if status, out := send("PUT", "/admin/v1/functions/c", io.MultiReader(bytes.NewReader(body))); status != 200 {
			t.Fatalf("upload %d: %d %s", i+1, status, out)
		}
	}
	if status, out := send("GET", "/c/info", nil); status != 200 {
		t.Fatalf("GET after the uploads: %d %s", status, out)
	}
	if *conns != 1 {
		t.Fatalf("the two uploads and the GET took %d connections, want 1: the server did not read an upload to its end", *conns)
	}
}

// TestChunkedCallKeepsTheConnection: the same for a function call with a chunked body, under
// the body limit and over it (413).
func TestChunkedCallKeepsTheConnection(t *testing.T) {
	g := startGateway(t, "", "--body-limit", "1MiB", "--manifests", writeManifest(t, testfnManifest))
	client, trace, conns := oneConnClient(t)
	for i, c := range []struct {
		size, status int
	}{{1000, 200}, {300 << 10, 200}, {2 << 20, 413}, {1000, 200}} {
		data := bytes.Repeat([]byte("x"), c.size)
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "POST", g.URL+"/t/echo",
			io.MultiReader(bytes.NewReader(data))) // unknown length: sent chunked
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || (c.status == 200 && !bytes.Equal(out, data)) {
			t.Fatalf("call %d: %d with %d bytes, want %d echoing %d", i+1, resp.StatusCode, len(out), c.status, c.size)
		}
	}
	if *conns != 1 {
		t.Fatalf("four chunked calls took %d connections, want 1", *conns)
	}
}

// oneConnClient returns a client that keeps at most one connection to a host, a trace to
// attach to its requests, and the count of connections the traced requests opened.
func oneConnClient(t *testing.T) (*http.Client, *httptrace.ClientTrace, *int) {
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	conns := new(int)
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			*conns++
		}
	}}
	return client, trace, conns
}
