package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/deadline"
	"github.com/edgefn/edgefn/runtime/event"
)

// A plugin's environment is the host's base variables under the manifest's env: the manifest
// wins where both name one, and nothing else is added.
func TestEnvList(t *testing.T) {
	base := map[string]string{"GOGC": "400", "GOMAXPROCS": "1"}
	for _, c := range []struct {
		base, env map[string]string
		want      []string
	}{
		{nil, nil, []string{}},
		{nil, map[string]string{"B": "2", "A": "1"}, []string{"A=1", "B=2"}},
		{base, nil, []string{"GOGC=400", "GOMAXPROCS=1"}},
		{base, map[string]string{"GOGC": "off", "A": "1"}, []string{"A=1", "GOGC=off", "GOMAXPROCS=1"}},
	} {
		if got := envList(c.base, c.env); !slices.Equal(got, c.want) {
			t.Errorf("envList(%v, %v) = %q, want %q", c.base, c.env, got, c.want)
		}
	}
}

// startTestfn builds internal/testfn and starts an instance of it, stopped when t ends.
func startTestfn(t *testing.T) *instance {
	t.Helper()
	return startTestfnFrom(t, buildTestfn(t))
}

// buildTestfn builds internal/testfn into tb's temporary directory and returns its path.
func buildTestfn(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds a plugin")
	}
	bin := filepath.Join(tb.TempDir(), "testfn")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/edgefn/edgefn/internal/testfn").CombinedOutput(); err != nil {
		tb.Fatalf("go build testfn: %v\n%s", err, out)
	}
	return bin
}

// startTestfnFrom starts an instance of the testfn binary at bin, stopped when t ends.
func startTestfnFrom(t *testing.T, bin string) *instance {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	inst, err := startInstance(context.Background(), instanceSpec{
		Function: "testfn", Version: 1, Binary: bin, Sum: sumOf(t, bin), Binaries: newBinaries(),
		StartTimeout: time.Minute, Logs: NewLogs("testfn", logger), Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.stop() })
	return inst
}

// sumOf is the SHA-256 the store would keep for the binary at path.
func sumOf(tb testing.TB, path string) string {
	tb.Helper()
	sum, err := fileSHA256(path)
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

// sleepFor is a testfn call that ignores its deadline and answers after ms.
func sleepFor(ms string) *event.Event {
	return &event.Event{Type: "sleep", Query: url.Values{"ms": {ms}}}
}

// Each call ends at its own deadline, the instance keeping all of them on one timer: a call
// with an earlier deadline than those already waiting ends first; a call whose caller gives up
// ends then; a quick call is answered meanwhile; and no late answer of a call given up on
// reaches a later call (calls and their channels are reused).
func TestCallsEndAtTheirOwnDeadlines(t *testing.T) {
	inst := startTestfn(t)
	type ended struct {
		err error
		at  time.Duration
	}
	began := time.Now()
	call := func(ctx context.Context, ev *event.Event, out chan<- ended) {
		_, err := invokeOne(ctx, inst, ev)
		out <- ended{err, time.Since(began)}
	}
	inPending := func(n int) {
		for {
			inst.mu.Lock()
			got := len(inst.pending)
			inst.mu.Unlock()
			if got >= n {
				return
			}
			runtime.Gosched()
		}
	}

	late, early, left, plain := make(chan ended, 1), make(chan ended, 1), make(chan ended, 1), make(chan ended, 1)
	lateCtx := deadline.New(context.Background(), began.Add(1500*time.Millisecond))
	defer lateCtx.Cancel()
	go call(lateCtx, sleepFor("3000"), late)
	inPending(1)
	earlyCtx := deadline.New(context.Background(), began.Add(100*time.Millisecond))
	defer earlyCtx.Cancel()
	go call(earlyCtx, sleepFor("3000"), early)
	parent, leave := context.WithCancel(context.Background())
	leftCtx := deadline.New(parent, began.Add(time.Hour))
	defer leftCtx.Cancel()
	go call(leftCtx, sleepFor("3000"), left)
	plainCtx, cancelPlain := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelPlain()
	go call(plainCtx, sleepFor("3000"), plain)

	res, err := invokeOne(deadline.New(context.Background(), time.Now().Add(30*time.Second)), inst, &event.Event{Type: "echo", Data: []byte("quick")})
	if err != nil || string(res.Body) != "quick" {
		t.Fatalf("a quick call among slow ones: %v, %v", res, err)
	}

	e := <-early
	if !errors.Is(e.err, ErrTimeout) || e.at < 100*time.Millisecond {
		t.Fatalf("the call with the earliest deadline: %v after %v, want ErrTimeout after 100ms", e.err, e.at)
	}
	leave()
	if l := <-left; !errors.Is(l.err, context.Canceled) {
		t.Fatalf("the call whose caller left: %v, want context.Canceled", l.err)
	}
	if p := <-plain; !errors.Is(p.err, ErrTimeout) || p.at < 200*time.Millisecond {
		t.Fatalf("the call under context.WithTimeout: %v after %v, want ErrTimeout after 200ms", p.err, p.at)
	}
	l := <-late
	if !errors.Is(l.err, ErrTimeout) || l.at < 1500*time.Millisecond || l.at < e.at {
		t.Fatalf("the call with the latest deadline: %v after %v, want ErrTimeout after 1.5s, later than the early one (%v)", l.err, l.at, e.at)
	}
	if l.at >= 3*time.Second {
		t.Fatalf("the call with the latest deadline ended after %v: with the plugin's answer, not at its deadline", l.at)
	}

	// The plugin answers the four sleeps at 3s, to calls given up on: those answers go
	// nowhere, while every new call gets its own.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for k := 0; time.Since(began) < 3500*time.Millisecond; k++ {
				body := fmt.Sprintf("%d-%d", w, k)
				ctx := deadline.New(context.Background(), time.Now().Add(30*time.Second))
				res, err := invokeOne(ctx, inst, &event.Event{Type: "echo", Data: []byte(body)})
				ctx.Cancel()
				if err != nil || string(res.Body) != body {
					t.Errorf("echo %s: %v, %v", body, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	inst.mu.Lock()
	pending := len(inst.pending)
	inst.mu.Unlock()
	if pending != 0 {
		t.Errorf("after every call ended: %d pending, want none", pending)
	}
	// The expiry still waits for the deadline of the last call; when it fires with nothing
	// pending, it stays unarmed.
	inst.sweep()
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.armed != 0 {
		t.Errorf("a sweep of no calls armed the expiry at %d", inst.armed)
	}
}
