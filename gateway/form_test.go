package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"strings"
	"testing"
)

// readForm reads every part of body with formReader (buffer of size bytes, reads of at most
// chunk bytes from the body) and returns "name=content" for each.
func readForm(t *testing.T, body []byte, boundary string, size, chunk int) ([]string, error) {
	t.Helper()
	br := bufio.NewReaderSize(&chunky{r: bytes.NewReader(body), max: chunk}, size)
	r := newFormReader(br, boundary)
	var got []string
	for {
		part, err := r.next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return got, err
		}
		got = append(got, part.FormName()+"="+string(data))
	}
}

// What mime/multipart writes, formReader reads back, whatever the contents (CRs, LFs, dashes,
// text that starts like the delimiter), the buffer size and how the body arrives.
func TestFormReaderReadsWhatMultipartWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		var want []string
		for k := range 1 + rng.IntN(3) {
			n := rng.IntN(3000)
			if rng.IntN(10) == 0 {
				n = rng.IntN(300_000)
			}
			content := make([]byte, n)
			for i := range content {
				content[i] = "\r\n-ab\x00"[rng.IntN(6)]
			}
			if n > 10 && rng.IntN(3) == 0 { // the boundary inside the content, followed by text
				at := rng.IntN(n - 1)
				content = append(content[:at], append([]byte("\r\n--"+w.Boundary()+"x"), content[at:]...)...)
			}
			name := fmt.Sprintf("f%d", k)
			part, err := w.CreateFormFile(name, name+".bin")
			if err != nil {
				t.Fatal(err)
			}
			part.Write(content)
			want = append(want, name+"="+string(content))
		}
		w.Close()
		size := []int{128, 4096, 256 << 10}[rng.IntN(3)]
		chunk := 1 + rng.IntN(70_000)
		got, err := readForm(t, body.Bytes(), w.Boundary(), size, chunk)
		if err != nil {
			t.Fatalf("round %d (buffer %d, chunks %d): %v", round, size, chunk, err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d parts, want %d", round, len(got), len(want))
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("round %d (buffer %d, chunks %d): part %d differs (len %d, want %d)", round, size, chunk, k, len(got[k]), len(want[k]))
			}
		}
	}
}

// Bodies from other writers: a preamble, white space after a delimiter, LF-only lines, no line
// end after the closing delimiter, an epilogue.
func TestFormReaderEdges(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"preamble and epilogue", "ignored\r\n--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--\r\nafter", []string{"a=x"}},
		{"padding after delimiters", "--B  \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B \t\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n\r\n--B--", []string{"a=x", "b="}},
		{"LF only", "--B\nContent-Disposition: form-data; name=\"a\"\n\nline1\nline2\n--B--\n", []string{"a=line1\nline2"}},
		{"no parts", "--B--\r\n", nil},
		{"not form-data", "--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--", []string{"=x"}},
	} {
		got, err := readForm(t, []byte(c.body), "B", 4096, 7)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

// A broken body is an error, never a hang or a part cut short without one.
func TestFormReaderRefusesBrokenBodies(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"empty", ""},
		{"no delimiter", "just text"},
		{"body ends in a part", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunfinished"},
		{"body ends in the header", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n"},
		{"header line without a colon", "--B\r\nnonsense\r\n\r\nx\r\n--B--"},
		{"text after a delimiter", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B junk\r\n\r\n--B--"},
		{"huge header", "--B\r\n" + strings.Repeat("X-Long: "+strings.Repeat("v", 1000)+"\r\n", 80) + "\r\nx\r\n--B--"},
	} {
		if got, err := readForm(t, []byte(c.body), "B", 4096, 3); err == nil {
			t.Errorf("%s: read %q with no error", c.name, got)
		}
	}
}
