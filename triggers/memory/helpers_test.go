package memory_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/triggers"
)

func messages(prefix string, n int) []*triggers.Message {
	out := make([]*triggers.Message, n)
	for i := range out {
		out[i] = &triggers.Message{ID: prefix + "-" + strconv.Itoa(i), Type: "T", Data: []byte(strconv.Itoa(i))}
	}
	return out
}

func openQueue(t testing.TB, q triggers.Queues, opts triggers.QueueOptions) triggers.Source {
	t.Helper()
	src, err := q.ConsumeQueue(context.Background(), opts)
	if err != nil {
		t.Fatalf("consume %s: %v", opts.Queue, err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func openStream(t testing.TB, s triggers.Streams, opts triggers.StreamOptions) triggers.Source {
	t.Helper()
	if opts.Consumer == "" {
		opts.Consumer = "c1"
	}
	src, err := s.ConsumeStream(context.Background(), opts)
	if err != nil {
		t.Fatalf("consume %s/%s: %v", opts.Stream, opts.Group, err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// receive receives exactly n deliveries within 5s.
func receive(t testing.TB, src triggers.Source, n int) []*triggers.Delivery {
	t.Helper()
	ctx := testkit.Context(t, 5*time.Second)
	var out []*triggers.Delivery
	for len(out) < n {
		ds, err := src.Receive(ctx, n-len(out))
		if err != nil {
			t.Fatalf("receive after %d of %d: %v", len(out), n, err)
		}
		if len(ds) > n-len(out) {
			t.Fatalf("asked for %d, got %d", n-len(out), len(ds))
		}
		out = append(out, ds...)
	}
	return out
}

// nothing checks that src delivers nothing within d.
func nothing(t testing.TB, src triggers.Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ds, err := src.Receive(ctx, 10)
	if len(ds) > 0 {
		t.Fatalf("unexpected delivery %q (attempt %d)", ds[0].ID, ds[0].Attempt)
	}
	if err != context.DeadlineExceeded {
		t.Fatalf("receive: %v, want the deadline", err)
	}
}

func idsOf(ds []*triggers.Delivery) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += " "
		}
		s += d.ID + "#" + strconv.Itoa(d.Attempt)
	}
	return s
}
