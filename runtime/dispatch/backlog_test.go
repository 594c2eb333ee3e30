package dispatch

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
)

// scalingFn is a fakeFn that scales: it records the backlogs its consumers report.
type scalingFn struct {
	fakeFn
	mu       sync.Mutex
	backlogs map[string]int64
}

func (f *scalingFn) Scales() bool { return true }

func (f *scalingFn) SetBacklog(source string, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backlogs[source] = n
}

func (f *scalingFn) backlog(source string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.backlogs[source]
	return n, ok
}

// A consumer of a function that scales reports the messages waiting in its queue, and none
// once they are handled.
func TestConsumerReportsTheBacklog(t *testing.T) {
	b := memory.New(memory.Options{})
	t.Cleanup(func() { b.Close() })
	gate := make(chan struct{})
	f := &scalingFn{backlogs: map[string]int64{}}
	f.do = func(*event.Event) (*event.Result, error) { <-gate; return event.Status(200), nil }
	run(t, b, ConsumerConfig{Function: "f", EventSource: "queue/in", Concurrency: 1}, "in", f, &Effects{Queues: b, Streams: b})
	for i := range 10 {
		publish(t, b, "in", &triggers.Message{ID: fmt.Sprint(i)})
	}
	testkit.Eventually(t, 10*time.Second, "a backlog reported", func() bool {
		n, _ := f.backlog("queue/in")
		return n >= 5 // the consumer holds at most its one slot's worth
	})
	close(gate)
	testkit.Eventually(t, 10*time.Second, "the backlog gone", func() bool {
		n, ok := f.backlog("queue/in")
		return ok && n == 0
	})
}
