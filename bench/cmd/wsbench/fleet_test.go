package main

import (
	"sync/atomic"
	"testing"
)

func TestParseSeq(t *testing.T) {
	tests := []struct {
		frame string
		want  int64
		ok    bool
	}{
		{`{"topic":"bench.t0","offset":"17","data":{"seq":42}}`, 42, true},
		{`{"topic":"bench.t12","offset":"1","data":{"seq":1}}`, 1, true},
		{`{"id":1,"ok":true,"epoch":"raw","offset":"0"}`, 0, false},
		{`{"topic":"bench.t0","offset":"17","data":{"n":42}}`, 0, false},
		{`{"topic":"bench.t0","offset":"17","data":{"seq":}}`, 0, false},
		{`{"topic":"bench.t0","offset":"17","data":{"seq":99999999999999999999}}`, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseSeq([]byte(tt.frame))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseSeq(%s) = %d, %v; want %d, %v", tt.frame, got, ok, tt.want, tt.ok)
		}
	}
}

func TestReceiveCountsGapsAndRepeats(t *testing.T) {
	f := &fleet{got: make([]atomic.Int64, 4), done: make([]chan struct{}, 4)}
	for i := range f.done {
		f.done[i] = make(chan struct{})
	}
	c := &client{recv: make([]atomic.Int64, 4)}
	f.clients = []*client{c}
	frame := func(seq string) []byte {
		return []byte(`{"topic":"bench.t0","offset":"1","data":{"seq":` + seq + `}}`)
	}
	f.receive(c, frame("1"), 10)
	f.receive(c, frame("3"), 20) // 2 skipped
	f.receive(c, frame("3"), 30) // repeated
	f.receive(c, frame("2"), 40) // older
	f.receive(c, []byte(`{"ok":true}`), 50)
	f.receive(c, frame("5"), 60) // 4 skipped, beyond the timed seqs
	if got := c.last.Load(); got != 5 {
		t.Errorf("last = %d, want 5", got)
	}
	if c.count.Load() != 5 || c.gaps.Load() != 2 || c.dupes.Load() != 2 || c.bad.Load() != 1 {
		t.Errorf("count %d, gaps %d, dupes %d, bad %d; want 5, 2, 2, 1", c.count.Load(), c.gaps.Load(), c.dupes.Load(), c.bad.Load())
	}
	if c.recv[1].Load() != 10 || c.recv[3].Load() != 20 || c.recv[2].Load() != 0 {
		t.Errorf("receipt times %d, %d, %d; want 10, 0, 20", c.recv[1].Load(), c.recv[2].Load(), c.recv[3].Load())
	}
	for _, seq := range []int{1, 3} {
		select {
		case <-f.done[seq]:
		default:
			t.Errorf("seq %d reached every client, but its channel is open", seq)
		}
	}
	select {
	case <-f.done[2]:
		t.Error("seq 2 never arrived in order, but its channel is closed")
	default:
	}
}

func TestOrderAlternates(t *testing.T) {
	if got := order(1); got[0] != rawServer {
		t.Errorf("round 1 starts with %s, want the baseline", got[0])
	}
	if got := order(2); got[0] != edgefnServer {
		t.Errorf("round 2 starts with %s, want edgefn", got[0])
	}
}
