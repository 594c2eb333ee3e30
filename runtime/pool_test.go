package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// poolWait bounds every wait on another goroutine in these tests.
const poolWait = 30 * time.Second

// oneInstance is the Scale of `instances: 1`.
var oneInstance = manifest.Scale{Min: 1, Max: 1, Target: manifest.DefaultScaleTarget}

// newTestScaler is a scaler whose loop does not run: a test calls decide.
func newTestScaler() *scaler {
	return newScaler(64, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
}

// newTestPool is a pool of n slots with no process started: a test fills them (fill).
func newTestPool(t *testing.T, n int) *pool {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := newPool(instanceSpec{Function: "testfn", Logs: NewLogs("testfn", logger), Logger: logger},
		manifest.Scale{Min: n, Max: n, Target: manifest.DefaultScaleTarget}, new(restarts), newTestScaler())
	t.Cleanup(p.close)
	return p
}

// fill gives p its processes, as a deploy does.
func fill(p *pool, insts ...*instance) { p.scaler.add(p, insts) }

// poolInvokeAsync runs evs through p in a goroutine and returns the channel their outcomes
// arrive on.
func poolInvokeAsync(ctx context.Context, p *pool, evs []*event.Event) <-chan []outcome {
	done := make(chan []outcome, 1)
	go func() {
		out := make([]outcome, len(evs))
		p.invoke(ctx, evs, out)
		done <- out
	}()
	return done
}

func poolRecv(t *testing.T, ch <-chan []outcome) []outcome {
	t.Helper()
	select {
	case out := <-ch:
		return out
	case <-time.After(poolWait):
		t.Fatal("the pool did not answer")
		return nil
	}
}

// A batch that finds no process ready waits for one, and runs on it once it is.
func TestPoolWaitsForAReadyInstance(t *testing.T) {
	p := newTestPool(t, 1)
	evs := []*event.Event{{Type: "echo", Data: []byte("a")}, {Type: "echo", Data: []byte("b")}}
	done := poolInvokeAsync(context.Background(), p, evs)
	inst := startTestfn(t)
	select {
	case out := <-done:
		t.Fatalf("the batch was answered before any process was ready: %+v", out)
	default:
	}
	fill(p, inst)
	out := poolRecv(t, done)
	for k, want := range []string{"a", "b"} {
		if out[k].err != nil || string(out[k].res.Body) != want {
			t.Errorf("event %d: %+v, want the echo of %q", k, out[k], want)
		}
	}
}

// While no process is ready, a caller that leaves gets ErrNotReady for every event, and a
// pool that closes ErrStopping.
func TestPoolNotReadyOrStopping(t *testing.T) {
	p := newTestPool(t, 2)
	ctx, leave := context.WithCancel(context.Background())
	left := poolInvokeAsync(ctx, p, batchOf(2))
	leave()
	for k, o := range poolRecv(t, left) {
		if !errors.Is(o.err, ErrNotReady) {
			t.Errorf("event %d of a caller that left: %v, want ErrNotReady", k, o.err)
		}
	}

	stopped := poolInvokeAsync(context.Background(), p, batchOf(2))
	p.close()
	for k, o := range poolRecv(t, stopped) {
		if !errors.Is(o.err, ErrStopping) {
			t.Errorf("event %d in a closing pool: %v, want ErrStopping", k, o.err)
		}
	}
}

// Calls go to the ready processes in turn.
func TestPoolTakesInstancesInTurn(t *testing.T) {
	bin := buildTestfn(t)
	p := newTestPool(t, 2)
	fill(p, startTestfnFrom(t, bin), startTestfnFrom(t, bin))
	pids := map[float64]int{}
	for range 4 {
		out := make([]outcome, 1)
		p.invoke(context.Background(), []*event.Event{{Type: "info"}}, out)
		if out[0].err != nil {
			t.Fatal(out[0].err)
		}
		var info struct{ PID float64 }
		if err := json.Unmarshal(out[0].res.Body, &info); err != nil {
			t.Fatal(err)
		}
		pids[info.PID]++
	}
	if len(pids) != 2 {
		t.Fatalf("4 calls went to processes %v, want 2 calls to each of 2", pids)
	}
	for pid, n := range pids {
		if n != 2 {
			t.Errorf("process %v took %d of 4 calls, want 2", pid, n)
		}
	}
}
