package fn

import (
	"context"
	"testing"

	"github.com/edgefn/edgefn/internal/startheap"
	pb "github.com/edgefn/edgefn/runtime/proto"
)

// A plugin's start ends when the gateway opens its data path: from there its heap grows as
// the system's huge page setting says (see internal/startheap).
func TestOpenEndsTheStartupHeapAdvice(t *testing.T) {
	if !startheap.Advising() {
		t.Skip("this process started with no huge page advice (not Linux in madvise mode, or turned off)")
	}
	t.Setenv("TMPDIR", t.TempDir()) // where Open makes the data socket; nobody dials it
	s := &controlServer{handler: HandlerFunc(func(context.Context, *Event) (*Result, error) { return &Result{}, nil })}
	if _, err := s.Open(context.Background(), &pb.OpenRequest{Function: "f", Version: 1}); err != nil {
		t.Fatal(err)
	}
	if startheap.Advising() {
		t.Fatal("the heap is still advised to take huge pages after the data path opened")
	}
}
