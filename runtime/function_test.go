package runtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// startChain builds internal/testfn and deploys it as version 1 of a Function with m's
// settings and the whole chain of newVersion; it is stopped when tb ends.
func startChain(tb testing.TB, m *manifest.Function) *Function {
	tb.Helper()
	bin := buildTestfn(tb)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := newFunction(m.Name, NewLogs(m.Name, logger), nil)
	spec := instanceSpec{Function: m.Name, Version: 1, Binary: bin, Sum: sumOf(tb, bin), Binaries: newBinaries(),
		StartTimeout: time.Minute, Logs: f.logs, Logger: logger}
	v := newVersion(1, m, bin, spec, &f.restarts, newTestScaler())
	if err := v.pool.start(context.Background()); err != nil {
		tb.Fatalf("start testfn: %v", err)
	}
	tb.Cleanup(v.pool.close)
	f.current.Store(v)
	return f
}

// A call and a batch take the same chain to a real plugin: each event gets its own answer,
// a deadline the plugin outlives is a 504 and a process that dies a 502, and every event is
// counted with its own outcome.
func TestInvokeThroughTheChain(t *testing.T) {
	f := startChain(t, &manifest.Function{Name: "testfn", Timeout: 300 * time.Millisecond,
		Concurrency: 8, Scale: oneInstance, Breaker: manifest.Breaker{Failures: 100, Cooldown: time.Minute}})
	ctx := WithTrigger(context.Background(), TriggerHTTP)
	op := func(op, data string, query url.Values) *event.Event {
		return &event.Event{Type: op, Data: []byte(data), Query: query}
	}

	res, err := f.Invoke(ctx, op("echo", "one", nil))
	if err != nil || string(res.Body) != "one" {
		t.Fatalf("echo: %v, %v", res, err)
	}
	_, err = f.Invoke(ctx, op("status", "", url.Values{"code": {"422"}}))
	if status, _, _ := HTTPStatus(err); status != 422 {
		t.Errorf("status 422: err %v is a %d", err, status)
	}
	_, err = f.Invoke(ctx, sleepFor("3000"))
	if status, _, _ := HTTPStatus(err); !errors.Is(err, ErrTimeout) || status != 504 {
		t.Errorf("a call that outlives its deadline: err %v is a %d, want ErrTimeout, 504", err, status)
	}

	results, errs := f.InvokeBatch(WithTrigger(context.Background(), TriggerStream), []*event.Event{
		op("echo", "first", nil), op("panic", "", nil), op("status", "", url.Values{"code": {"404"}}), op("echo", "last", nil),
	}, nil)
	if errs[0] != nil || string(results[0].Body) != "first" || errs[3] != nil || string(results[3].Body) != "last" {
		t.Errorf("batch echoes: %v, %v", results, errs)
	}
	var fe *FunctionError
	if !errors.As(errs[1], &fe) || !fe.Panic {
		t.Errorf("batch panic: %v, want a panic failure of that event alone", errs[1])
	}
	if status, _, _ := HTTPStatus(errs[2]); status != 404 {
		t.Errorf("batch status: %v, want the function's 404", errs[2])
	}

	_, err = f.Invoke(ctx, op("exit", "", nil))
	if status, _, _ := HTTPStatus(err); !errors.Is(err, ErrCrashed) || status != 502 {
		t.Errorf("a call whose process dies: err %v is a %d, want ErrCrashed, 502", err, status)
	}

	counted := map[[2]string]int64{}
	for ti := range f.series.byTrigger {
		for oi := range f.series.byTrigger[ti].outcomes {
			if n := f.series.byTrigger[ti].outcomes[oi].Load(); n > 0 {
				counted[[2]string{triggers[ti], outcomes[oi]}] = n
			}
		}
	}
	want := map[[2]string]int64{
		{TriggerHTTP, OutcomeSuccess}: 1, {TriggerHTTP, OutcomeClientError}: 1, {TriggerHTTP, OutcomeTimeout}: 1,
		{TriggerHTTP, OutcomeCrashed}: 1, {TriggerStream, OutcomeSuccess}: 2, {TriggerStream, OutcomeError}: 1,
		{TriggerStream, OutcomeClientError}: 1,
	}
	if len(counted) != len(want) {
		t.Errorf("counted %v, want %v", counted, want)
	}
	for k, n := range want {
		if counted[k] != n {
			t.Errorf("%s %s counted %d times, want %d", k[0], k[1], counted[k], n)
		}
	}
	if n := f.invocations.Load(); n != 8 {
		t.Errorf("%d invocations, want 8", n)
	}
	if n := f.failures.Load(); n != 3 { // the timeout, the panic and the crash
		t.Errorf("%d failures, want 3", n)
	}
}

// traceStage is a chain that answers every event with a 200 and records what it was given.
type traceStage struct {
	mu           sync.Mutex
	batches      []int
	traceparents []string
}

func (s *traceStage) invoke(_ context.Context, evs []*event.Event, out []outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, len(evs))
	for k := range out {
		s.traceparents = append(s.traceparents, out[k].traceparent)
		out[k].res = &event.Result{Status: 200}
	}
}

// Each event of a batch reaches the plugin with its own trace context (its parent's, or the
// batch's), a call is a batch of one with the caller's, and a call to a deleted function is
// turned away and counted.
func TestInvokeCarriesEachEventsTrace(t *testing.T) {
	chain := &traceStage{}
	f := newFunction("f", nil, nil)
	f.current.Store(&version{chain: chain})
	const (
		tpCall  = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		tpFirst = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"
		tpLast  = "00-2af7651916cd43dd8448eb211c80319c-d7ad6b7169203331-01"
	)
	call := tracectx.WithRemote(context.Background(), tpCall)
	if res, err := f.Invoke(call, &event.Event{}); err != nil || res.Status != 200 {
		t.Fatalf("Invoke = %v, %v", res, err)
	}
	parents := []context.Context{tracectx.WithRemote(context.Background(), tpFirst), nil,
		tracectx.WithRemote(context.Background(), tpLast)}
	results, errs := f.InvokeBatch(call, batchOf(3), parents)
	for k := range results {
		if errs[k] != nil || results[k].Status != 200 {
			t.Errorf("event %d: %v, %v", k, results[k], errs[k])
		}
	}
	if want := []int{1, 3}; !slices.Equal(chain.batches, want) {
		t.Errorf("the chain got batches of %v, want %v", chain.batches, want)
	}
	if want := []string{tpCall, tpFirst, tpCall, tpLast}; !slices.Equal(chain.traceparents, want) {
		t.Errorf("traceparents %q, want %q", chain.traceparents, want)
	}

	f.current.Store(nil)
	if _, err := f.Invoke(call, &event.Event{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Invoke of a deleted function: %v, want ErrNotFound", err)
	}
	if n := f.series.byTrigger[triggerIndex(call)].outcomes[outcomeIndex(ErrNotFound)].Load(); n != 1 {
		t.Errorf("the call turned away counted %d times, want once", n)
	}
}
