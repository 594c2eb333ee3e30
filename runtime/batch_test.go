package runtime

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
)

func TestDecodeBatchResponseShortOrBroken(t *testing.T) {
	out := make([]outcome, 3)
	decodeBatchResponse([]byte{0xff, 0xff}, out, []int{0, 2})
	var fe *FunctionError
	if !errors.As(out[0].err, &fe) || !errors.As(out[2].err, &fe) {
		t.Errorf("malformed answer: %+v, want function errors at 0 and 2", out)
	}
	if out[1] != (outcome{}) {
		t.Errorf("event 1 was not sent but got %+v", out[1])
	}
}

// TestBatchThroughAPlugin sends batches to a real plugin process: each event gets its own
// answer in order, a panic or an error fails only its event, the deadline fails the batch,
// and the process's death fails every event in flight.
func TestBatchThroughAPlugin(t *testing.T) {
	inst := startTestfn(t)
	defer inst.stop()
	if !inst.batches {
		t.Fatal("a plugin built with this SDK does not announce batches")
	}
	op := func(op string, data string, query url.Values) *event.Event {
		return &event.Event{Type: op, Data: []byte(data), Query: query}
	}

	evs := []*event.Event{
		op("echo", "first", nil),
		op("panic", "", nil),
		op("status", "", url.Values{"code": {"422"}}),
		op("echo", "last", nil),
	}
	out := make([]outcome, len(evs))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	inst.invoke(ctx, evs, out)
	cancel()
	if out[0].err != nil || string(out[0].res.Body) != "first" {
		t.Errorf("event 0: %+v, want echo of first", out[0])
	}
	var fe *FunctionError
	if !errors.As(out[1].err, &fe) || !fe.Panic {
		t.Errorf("event 1: %v, want a panic failure", out[1].err)
	}
	var chosen *event.Error
	if !errors.As(out[2].err, &chosen) || chosen.Status != 422 {
		t.Errorf("event 2: %v, want the function's 422", out[2].err)
	}
	if out[3].err != nil || string(out[3].res.Body) != "last" {
		t.Errorf("event 3: %+v, want echo of last", out[3])
	}

	// sleep ignores the deadline: the batch's answer cannot arrive before it.
	evs = []*event.Event{op("echo", "quick", nil), op("sleep", "", url.Values{"ms": {"3000"}})}
	out = make([]outcome, len(evs))
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	inst.invoke(ctx, evs, out)
	cancel()
	for k, o := range out {
		if !errors.Is(o.err, ErrTimeout) {
			t.Errorf("deadline batch, event %d: %v, want ErrTimeout (a batch answers at once)", k, o.err)
		}
	}

	evs = []*event.Event{op("echo", "x", nil), op("exit", "", nil)}
	out = make([]outcome, len(evs))
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	inst.invoke(ctx, evs, out)
	cancel()
	for k, o := range out {
		if !errors.Is(o.err, ErrCrashed) {
			t.Errorf("crash batch, event %d: %v, want ErrCrashed", k, o.err)
		}
	}
}
