package gateway

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"

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
