package triggers

import "testing"

type countingListener struct{ pubs, resyncs int }

func (c *countingListener) Publication(*Publication) { c.pubs++ }
func (c *countingListener) Resync()                  { c.resyncs++ }

func TestTopicListenersReachEveryListener(t *testing.T) {
	a, b := &countingListener{}, &countingListener{}
	ls := TopicListeners{a, b}
	ls.Publication(&Publication{Topic: "t"})
	ls.Publication(&Publication{Topic: "t"})
	ls.Resync()
	for _, l := range []*countingListener{a, b} {
		if l.pubs != 2 || l.resyncs != 1 {
			t.Fatalf("listener heard %d publications and %d resyncs, want 2 and 1", l.pubs, l.resyncs)
		}
	}
}
