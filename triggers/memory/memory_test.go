package memory_test

import (
	"testing"

	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/memory"
	"github.com/edgefn/edgefn/triggers/triggertest"
)

func newBroker(t testing.TB, opts memory.Options) *memory.Broker {
	b := memory.New(opts)
	t.Cleanup(func() { b.Close() })
	return b
}

func TestQueuesConformance(t *testing.T) {
	triggertest.RunQueues(t, func(t *testing.T) triggers.Queues {
		return newBroker(t, memory.Options{})
	}, triggertest.Features{Name: "memory"})
}

func TestStreamsConformance(t *testing.T) {
	triggertest.RunStreams(t, func(t *testing.T) triggers.Streams {
		return newBroker(t, memory.Options{})
	}, triggertest.Features{Name: "memory"})
}
