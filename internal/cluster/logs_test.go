package cluster

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/internal/testredis"
	"github.com/edgefn/edgefn/runtime"
)

// TestRedisLogs: the lines two nodes append to a function's log come back from either, oldest
// first and tagged with their node; a follow gets the lines written after it started; other
// functions' and other clusters' lines stay apart.
func TestRedisLogs(t *testing.T) {
	client := testredis.Client(t, "logs-test")
	cluster := testCluster(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Cleanup(func() {
		for _, c := range []string{cluster, cluster + "-other"} {
			client.Del(context.Background(), RedisPrefix(c)+"logs:f", RedisPrefix(c)+"logs:g")
		}
	})
	nodes := map[string]*RedisLogs{}
	for _, node := range []string{"x", "y"} {
		l, err := NewRedisLogs(client, cluster, node, logger)
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		go l.Run(ctx)
		t.Cleanup(func() { stop(); l.Wait() })
		nodes[node] = l
	}
	other, _ := NewRedisLogs(client, cluster+"-other", "z", logger)
	octx, ostop := context.WithCancel(context.Background())
	go other.Run(octx)
	t.Cleanup(func() { ostop(); other.Wait() })

	line := func(seq uint64, text string) runtime.LogLine {
		return runtime.LogLine{Seq: seq, Time: time.Unix(1_700_000_000, 0).UTC(), Stream: "stdout", Text: text}
	}
	ctx := context.Background()
	nodes["x"].Append("f", line(1, "one"))
	testkit.Eventually(t, 5*time.Second, "the first line", func() bool {
		got, _ := nodes["y"].Tail(ctx, "f", 10)
		return len(got) == 1
	})
	nodes["y"].Append("f", line(1, "two"))
	nodes["y"].Append("g", line(2, "elsewhere"))
	other.Append("f", line(1, "other cluster"))
	var got []runtime.LogLine
	testkit.Eventually(t, 5*time.Second, "both lines", func() bool {
		got, _ = nodes["x"].Tail(ctx, "f", 10)
		return len(got) == 2
	})
	if got[0].Text != "one" || got[0].Node != "x" || got[1].Text != "two" || got[1].Node != "y" || !got[1].Time.Equal(line(0, "").Time) {
		t.Fatalf("tail %+v, want one from x then two from y", got)
	}
	if last, _ := nodes["x"].Tail(ctx, "f", 1); len(last) != 1 || last[0].Text != "two" {
		t.Fatalf("tail 1: %+v, want the latest line", last)
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tail, ch, err := nodes["x"].Follow(fctx, "f", 0)
	if err != nil || len(tail) != 0 {
		t.Fatalf("follow: %v, %v", tail, err)
	}
	nodes["y"].Append("f", line(2, "three"))
	select {
	case l := <-ch:
		if l.Text != "three" || l.Node != "y" {
			t.Fatalf("followed %+v, want three from y", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follow got nothing")
	}
}
