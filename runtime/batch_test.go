package runtime

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
)

func batchOf(n int) []*fn.Event {
	evs := make([]*fn.Event, n)
	for k := range evs {
		evs[k] = &fn.Event{}
	}
	return evs
}

func TestBatchLimiterRunsWhatHasSlotsThenTheRest(t *testing.T) {
	g := newLimitGate()
	l := withLimit(g, 2, limitWait)
	out := make([]outcome, 5)
	done := make(chan struct{})
	go func() { l.invokeBatch(context.Background(), batchOf(5), out); close(done) }()
	for range 5 {
		g.waitEntered(t)
		g.release <- nil
	}
	select {
	case <-done:
	case <-time.After(limitWait):
		t.Fatal("the batch did not finish")
	}
	if p := g.peak.Load(); p > 2 {
		t.Errorf("%d invocations ran at once under a limit of 2", p)
	}
	for k, o := range out {
		if o.err != nil || o.res == nil || o.res.Status != 200 {
			t.Errorf("event %d: %+v, want a 200 result", k, o)
		}
	}
	if n := l.inflight(); n != 0 {
		t.Errorf("%d slots still held after the batch", n)
	}
}

func TestBatchLimiterSheds(t *testing.T) {
	g := newLimitGate()
	l := withLimit(g, 1, 50*time.Millisecond)
	held := limitInvokeAsync(context.Background(), l)
	g.waitEntered(t)
	out := make([]outcome, 3)
	l.invokeBatch(context.Background(), batchOf(3), out)
	for k, o := range out {
		if !errors.Is(o.err, ErrOverloaded) {
			t.Errorf("event %d: %v, want ErrOverloaded", k, o.err)
		}
	}
	g.release <- nil
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

func TestBatchBreakerCountsEachOutcome(t *testing.T) {
	failing := InvokerFunc(func(context.Context, *fn.Event) (*fn.Result, error) {
		return nil, &FunctionError{Detail: "boom"}
	})
	b := withBreaker(failing, 3, time.Hour)
	out := make([]outcome, 3)
	b.invokeBatch(context.Background(), batchOf(3), out)
	if s := b.State(); s != BreakerOpen {
		t.Fatalf("breaker %s after a batch of 3 failures with a threshold of 3, want open", s)
	}
	b.invokeBatch(context.Background(), batchOf(2), out[:2])
	for k, o := range out[:2] {
		if !errors.Is(o.err, ErrCircuitOpen) {
			t.Errorf("event %d: %v, want ErrCircuitOpen", k, o.err)
		}
	}
}

func TestBatchTimeoutFailsWhatDidNotFinish(t *testing.T) {
	slow := InvokerFunc(func(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
		if ev.Type == "slow" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return &fn.Result{Status: 200}, nil
	})
	out := make([]outcome, 2)
	withTimeout(slow, 20*time.Millisecond).(*timeout).invokeBatch(context.Background(),
		[]*fn.Event{{Type: "fast"}, {Type: "slow"}}, out)
	if out[0].err != nil {
		t.Errorf("fast event: %v", out[0].err)
	}
	if !errors.Is(out[1].err, ErrTimeout) {
		t.Errorf("slow event: %v, want ErrTimeout", out[1].err)
	}
}

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
	op := func(op string, data string, query url.Values) *fn.Event {
		return &fn.Event{Type: op, Data: []byte(data), Query: query}
	}

	evs := []*fn.Event{
		op("echo", "first", nil),
		op("panic", "", nil),
		op("status", "", url.Values{"code": {"422"}}),
		op("echo", "last", nil),
	}
	out := make([]outcome, len(evs))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	inst.invokeBatch(ctx, evs, out)
	cancel()
	if out[0].err != nil || string(out[0].res.Body) != "first" {
		t.Errorf("event 0: %+v, want echo of first", out[0])
	}
	var fe *FunctionError
	if !errors.As(out[1].err, &fe) || !fe.Panic {
		t.Errorf("event 1: %v, want a panic failure", out[1].err)
	}
	var chosen *fn.Error
	if !errors.As(out[2].err, &chosen) || chosen.Status != 422 {
		t.Errorf("event 2: %v, want the function's 422", out[2].err)
	}
	if out[3].err != nil || string(out[3].res.Body) != "last" {
		t.Errorf("event 3: %+v, want echo of last", out[3])
	}

	// sleep ignores the deadline: the batch's answer cannot arrive before it.
	evs = []*fn.Event{op("echo", "quick", nil), op("sleep", "", url.Values{"ms": {"3000"}})}
	out = make([]outcome, len(evs))
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	inst.invokeBatch(ctx, evs, out)
	cancel()
	for k, o := range out {
		if !errors.Is(o.err, ErrTimeout) {
			t.Errorf("deadline batch, event %d: %v, want ErrTimeout (a batch answers at once)", k, o.err)
		}
	}

	evs = []*fn.Event{op("echo", "x", nil), op("exit", "", nil)}
	out = make([]outcome, len(evs))
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	inst.invokeBatch(ctx, evs, out)
	cancel()
	for k, o := range out {
		if !errors.Is(o.err, ErrCrashed) {
			t.Errorf("crash batch, event %d: %v, want ErrCrashed", k, o.err)
		}
	}
}
