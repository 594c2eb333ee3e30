package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime"
)

func TestCopyHashingCopiesAndHashesEverything(t *testing.T) {
	for _, n := range []int{0, 1, 256<<10 - 1, 256 << 10, 256<<10 + 1, 3<<20 + 7} {
		data := make([]byte, n)
		rand.Read(data)
		var out bytes.Buffer
		// iotest-like: a reader that returns small, uneven pieces.
		sum, err := copyHashing(&out, io.LimitReader(&chunky{r: bytes.NewReader(data)}, int64(n)))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		h := runtime.NewSum()
		h.Write(data)
		if want := runtime.SumHex(h); sum != want || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("%d bytes: copied %d, sum %s, want %s", n, out.Len(), sum, want)
		}
	}
}

func TestCopyHashingReportsErrors(t *testing.T) {
	boom := errors.New("boom")
	if _, err := copyHashing(io.Discard, io.MultiReader(bytes.NewReader(make([]byte, 300<<10)), errReader{boom})); !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
	if _, err := copyHashing(errWriter{boom}, bytes.NewReader(make([]byte, 600<<10))); !errors.Is(err, boom) {
		t.Fatalf("write error: %v", err)
	}
}

// chunky returns at most max bytes a read (7919 when max is 0).
type chunky struct {
	r   io.Reader
	max int
}

func (c *chunky) Read(p []byte) (int, error) {
	limit := c.max
	if limit == 0 {
		limit = 7919
	}
	return c.r.Read(p[:min(len(p), limit)])
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

// startServer serves a gateway with no function deployed on a loopback port, with its data
// in a temporary folder, and returns its base URL.
func startServer(tb testing.TB, cfg Config) (string, *Server) {
	tb.Helper()
	s := newTestServer(tb, cfg)
	return listen(tb, s.Serve), s
}

// testAdminToken is the admin token of the servers of newTestServer.
const testAdminToken = "test-admin-token"

// newTestServer builds a gateway with no function deployed, its data in a temporary folder.
func newTestServer(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	dir := tb.TempDir()
	logger := slog.New(slog.DiscardHandler)
	host, err := runtime.NewHost(runtime.Config{DataDir: filepath.Join(dir, "data"), Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Host, cfg.DataDir, cfg.Logger = host, dir, logger
	if cfg.AdminToken == "" {
		cfg.AdminToken = testAdminToken
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// listen runs serve on a loopback port and returns the base URL.
func listen(tb testing.TB, serve func(net.Listener) error) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go serve(ln)
	return "http://" + ln.Addr().String()
}

// uploadForm is a deploy upload: a manifest part named manifestName, then a binary part.
func uploadForm(tb testing.TB, manifestName, manifest string, binary []byte) (contentType string, body []byte) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "manifest", "filename": manifestName}))
	mf, err := w.CreatePart(h)
	if err != nil {
		tb.Fatal(err)
	}
	mf.Write([]byte(manifest))
	if binary != nil {
		bf, err := w.CreateFormFile("binary", "handler")
		if err != nil {
			tb.Fatal(err)
		}
		bf.Write(binary)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// put sends a deploy upload of function name and returns the status and the error body.
func put(tb testing.TB, client *http.Client, base, name, contentType string, body io.Reader) (int, errorDetail) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/admin/v1/functions/"+name, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var e errorBody
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		tb.Fatalf("answer %d is not JSON: %.300s", resp.StatusCode, raw)
	}
	return resp.StatusCode, e.Error
}

// otherManifest declares a function other than the one the tests deploy: the gateway reads
// the whole upload, parses the manifest and refuses it before any plugin starts.
const otherManifest = "name: other\nhandler: ./handler\ntriggers:\n  - http: {method: GET, path: /other}\n"

// A deploy upload that is not what it should be gets 400 with a message that says why, and
// leaves nothing in the staging folder.
func TestUploadRefusals(t *testing.T) {
	base, s := startServer(t, Config{UploadLimit: 2 << 20})
	const form = "multipart/form-data; boundary=B"
	part := func(name, content string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"f\"\r\n\r\n" + content + "\r\n"
	}
	for _, c := range []struct {
		name, contentType, body string
		code, message           string
	}{
		{"not a form", "application/octet-stream", "binary", "bad_upload", "expected a multipart/form-data body"},
		{"empty form", form, "--B--\r\n", "bad_upload", "no manifest part"},
		{"no manifest", form, part("binary", "\x7fELF") + "--B--\r\n", "bad_upload", "no manifest part"},
		{"unexpected part", form, part("manifest", otherManifest) + part("extra", "x") + "--B--\r\n", "bad_upload", `unexpected part "extra"`},
		{"body ends in a part", form, part("manifest", otherManifest) + "--B\r\nContent-Disposition: form-data; name=\"binary\"\r\n\r\nunfinished", "bad_upload", "the body ends before its closing delimiter"},
		{"no delimiter", form, "just text", "bad_upload", "the body ends before its closing delimiter"},
		{"header line without a colon", form, "--B\r\nnonsense\r\n\r\nx\r\n--B--\r\n", "bad_upload", "reading the form: "},
		{"manifest over 1 MiB", form, part("manifest", strings.Repeat("#", maxManifestBytes+1)) + "--B--\r\n", "bad_upload", "manifest over 1 MiB"},
		{"over the upload limit", form, part("manifest", otherManifest) + part("binary", strings.Repeat("x", 3<<20)) + "--B--\r\n", "bad_upload", "upload over the limit of 2097152 bytes"},
		{"over the limit in a preamble", form, strings.Repeat("preamble\r\n", 300_000) + part("manifest", otherManifest) + "--B--\r\n", "bad_upload", "upload over the limit"},
		{"over the limit past the last part", form, part("manifest", otherManifest) + "--B--\r\n" + strings.Repeat("e", 3<<20), "bad_upload", "upload over the limit"},
	} {
		// A fresh connection each: the server closes the one of a refused upload.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		status, e := put(t, client, base, "fn", c.contentType, strings.NewReader(c.body))
		if status != http.StatusBadRequest || e.Code != c.code || !strings.Contains(e.Message, c.message) {
			t.Errorf("%s: %d %s %q; want 400 %s with %q", c.name, status, e.Code, e.Message, c.code, c.message)
		}
	}
	left, err := os.ReadDir(filepath.Join(s.cfg.DataDir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("%d staging folders left behind", len(left))
	}
}

// A well-formed upload is read whole, whatever else the body holds around its parts (a
// preamble, white space after a delimiter, lines that end in LF alone, an epilogue), and its
// manifest is named in errors as the client named it, folders included.
func TestUploadIsReadWhole(t *testing.T) {
	base, _ := startServer(t, Config{})
	ct, body := uploadForm(t, "deploy/fns.yaml", otherManifest, bytes.Repeat([]byte("\r\n--x\x00"), 100_000))
	lf := "--B \nContent-Disposition: form-data; name=\"manifest\"; filename=\"deploy/fns.yaml\"\n\n" + otherManifest +
		"\n--B\t\nContent-Disposition: form-data; name=\"binary\"\n\n\x7fELF\n--B--"
	for _, c := range []struct{ name, contentType, body string }{
		{"as mime/multipart writes it", ct, string(body)},
		{"preamble and epilogue", ct, "a preamble\r\n" + string(body) + "an epilogue"},
		{"padding and LF only", "multipart/form-data; boundary=B", lf},
	} {
		status, e := put(t, http.DefaultClient, base, "fn", c.contentType, strings.NewReader(c.body))
		if status != http.StatusBadRequest || e.Code != "invalid_manifest" || !strings.Contains(e.Message, `does not declare function "fn"`) {
			t.Errorf("%s: %d %s %q; want the manifest read and refused", c.name, status, e.Code, e.Message)
		}
	}
	bad := "name: fn\nhandler: ./handler\ntimeout: forever\n"
	ct, body = uploadForm(t, "deploy/fns.yaml", bad, nil)
	status, e := put(t, http.DefaultClient, base, "fn", ct, bytes.NewReader(body))
	if status != http.StatusBadRequest || e.Code != "invalid_manifest" || !strings.Contains(strings.Join(e.Details, "\n"), "deploy/fns.yaml") {
		t.Fatalf("%d %s %q %q; want the manifest's errors naming deploy/fns.yaml", status, e.Code, e.Message, e.Details)
	}
}

// BenchmarkDeployUpload measures a deploy upload through the admin API over loopback: a
// manifest and a plugin-sized binary (a Go binary: this test's own, cut to 20 MiB), read,
// staged to disk with its sum, and the manifest parsed. The manifest names another function,
// so that no plugin starts: what is measured is all the gateway does with the upload. A
// replacement of a piece of this path (the form reader, say) is measured against it.
func BenchmarkDeployUpload(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	binary, err := os.ReadFile(exe)
	if err != nil {
		b.Fatal(err)
	}
	binary = binary[:min(len(binary), 20<<20)]
	ct, body := uploadForm(b, "fns.yaml", otherManifest, binary)
	base, _ := startServer(b, Config{})
	client := &http.Client{}
	b.SetBytes(int64(len(body)))
	defer testkit.ReportCPU(b, "cpu-ns/op")()
	for b.Loop() {
		status, e := put(b, client, base, "fn", ct, bytes.NewReader(body))
		if status != http.StatusBadRequest || e.Code != "invalid_manifest" {
			b.Fatalf("%d %s %s: the upload was not read whole", status, e.Code, e.Message)
		}
	}
}
