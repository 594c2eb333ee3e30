package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/hashicorp/go-hclog"
)

// logsWait bounds every wait on another goroutine in these tests.
const logsWait = 10 * time.Second

func logTexts(lines []LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

func equalTexts(t *testing.T, got []LogLine, want ...string) {
	t.Helper()
	if g := logTexts(got); strings.Join(g, "\x00") != strings.Join(want, "\x00") || len(g) != len(want) {
		t.Fatalf("lines = %q, want %q", g, want)
	}
}

func TestLineWriterSplitsAcrossWrites(t *testing.T) {
	l := NewLogs("orders", nil)
	w := l.Writer("stdout")
	for _, chunk := range []string{"hel", "lo\nwor", "ld\n", "one\ntwo\nthr"} {
		if n, err := io.WriteString(w, chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	// "thr" has no newline yet: it is held back, not logged as a line.
	equalTexts(t, l.Tail(0), "hello", "world", "one", "two")

	io.WriteString(w, "ee\r\n\n\nlast\n")
	// CRLF endings lose their CR; empty lines are not logged.
	equalTexts(t, l.Tail(0), "hello", "world", "one", "two", "three", "last")
	for _, line := range l.Tail(0) {
		if line.Stream != "stdout" || line.Time.IsZero() || line.Time.Location() != time.UTC {
			t.Errorf("line %+v: want stream stdout and a UTC time", line)
		}
	}
}

func TestLineWriterStreamsStayApart(t *testing.T) {
	l := NewLogs("orders", nil)
	out, errw := l.Writer("stdout"), l.Writer("stderr")
	io.WriteString(out, "partial out ")
	io.WriteString(errw, "an error\n")
	io.WriteString(out, "done\n")
	lines := l.Tail(0)
	equalTexts(t, lines, "an error", "partial out done")
	if lines[0].Stream != "stderr" || lines[1].Stream != "stdout" {
		t.Errorf("streams = %q, %q; want stderr, stdout", lines[0].Stream, lines[1].Stream)
	}
}

func TestLineWriterCutsLongLines(t *testing.T) {
	t.Run("one write with newline", func(t *testing.T) {
		l := NewLogs("orders", nil)
		w := l.Writer("stdout")
		io.WriteString(w, strings.Repeat("a", maxLineBytes)+strings.Repeat("b", 100)+"\nnext\n")
		equalTexts(t, l.Tail(0), strings.Repeat("a", maxLineBytes), "next")
	})
	t.Run("no newline", func(t *testing.T) {
		// A process that never writes a newline still gets its output logged, in pieces of at
		// most maxLineBytes, and the writer does not buffer without bound.
		l := NewLogs("orders", nil)
		w := l.Writer("stdout").(*lineWriter)
		io.WriteString(w, strings.Repeat("a", maxLineBytes+10))
		equalTexts(t, l.Tail(0), strings.Repeat("a", maxLineBytes))

		chunk := strings.Repeat("c", 1000)
		for range 5 * maxLineBytes / len(chunk) {
			io.WriteString(w, chunk)
			if len(w.buf) >= maxLineBytes {
				t.Fatalf("the writer holds %d bytes of an unfinished line, want < %d", len(w.buf), maxLineBytes)
			}
		}
		io.WriteString(w, "\n")
		lines := l.Tail(0)
		if len(lines) < 5 {
			t.Fatalf("got %d lines from 5 x maxLineBytes of output, want at least 5", len(lines))
		}
		for _, line := range lines {
			if len(line.Text) > maxLineBytes {
				t.Fatalf("a line of %d bytes, want at most %d", len(line.Text), maxLineBytes)
			}
		}
	})
}

func TestLogRingKeepsLastLines(t *testing.T) {
	l := NewLogs("orders", nil)
	w := l.Writer("stdout")
	const total = logRingLines + 50
	for i := range total {
		fmt.Fprintf(w, "line-%d\n", i)
	}
	lines := l.Tail(0)
	if len(lines) != logRingLines {
		t.Fatalf("Tail(0) returned %d lines, want %d", len(lines), logRingLines)
	}
	for i, line := range lines {
		want := fmt.Sprintf("line-%d", total-logRingLines+i)
		if line.Text != want {
			t.Fatalf("lines[%d] = %q, want %q", i, line.Text, want)
		}
		if wantSeq := uint64(total - logRingLines + i + 1); line.Seq != wantSeq {
			t.Fatalf("lines[%d].Seq = %d, want %d", i, line.Seq, wantSeq)
		}
	}
}

func TestLogTail(t *testing.T) {
	lineSet := func(n int) *Logs {
		l := NewLogs("orders", nil)
		w := l.Writer("stdout")
		for i := range n {
			fmt.Fprintf(w, "%d\n", i)
		}
		return l
	}
	seqOf := func(lines []LogLine) []uint64 {
		var s []uint64
		for _, l := range lines {
			s = append(s, l.Seq)
		}
		return s
	}
	cases := []struct {
		name        string
		lines, n    int
		first, last string
		count       int
	}{
		{"empty", 0, 10, "", "", 0},
		{"fewer than asked", 5, 10, "0", "4", 5},
		{"some", 5, 3, "2", "4", 3},
		{"zero means all", 5, 0, "0", "4", 5},
		{"negative means all", 5, -1, "0", "4", 5},
		{"ring exactly full", logRingLines, 1, fmt.Sprint(logRingLines - 1), fmt.Sprint(logRingLines - 1), 1},
		{"ring exactly full, all", logRingLines, 0, "0", fmt.Sprint(logRingLines - 1), logRingLines},
		{"wrapped", logRingLines + 7, 10, fmt.Sprint(logRingLines - 3), fmt.Sprint(logRingLines + 6), 10},
		{"wrapped, more than kept", logRingLines + 7, 5000, "7", fmt.Sprint(logRingLines + 6), logRingLines},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := lineSet(tc.lines).Tail(tc.n)
			if len(got) != tc.count {
				t.Fatalf("Tail(%d) of %d lines: %d lines, want %d", tc.n, tc.lines, len(got), tc.count)
			}
			if tc.count == 0 {
				return
			}
			if got[0].Text != tc.first || got[len(got)-1].Text != tc.last {
				t.Errorf("Tail(%d) = %q..%q, want %q..%q", tc.n, got[0].Text, got[len(got)-1].Text, tc.first, tc.last)
			}
			s := seqOf(got)
			for i := 1; i < len(s); i++ {
				if s[i] != s[i-1]+1 {
					t.Fatalf("Seq not increasing by one: %v", s)
				}
			}
		})
	}
}

func TestLogFollow(t *testing.T) {
	l := NewLogs("orders", nil)
	w := l.Writer("stdout")
	for i := range 5 {
		fmt.Fprintf(w, "old-%d\n", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tail, ch := l.Follow(ctx, 2)
	equalTexts(t, tail, "old-3", "old-4")

	fmt.Fprintf(w, "new-0\nnew-1\n")
	lastSeq := tail[len(tail)-1].Seq
	for i := range 2 {
		select {
		case line, ok := <-ch:
			if !ok {
				t.Fatal("channel closed while following")
			}
			if want := fmt.Sprintf("new-%d", i); line.Text != want || line.Seq != lastSeq+1 {
				t.Fatalf("followed %q (seq %d), want %q (seq %d)", line.Text, line.Seq, want, lastSeq+1)
			}
			lastSeq = line.Seq
		case <-time.After(logsWait):
			t.Fatal("a new line was not delivered")
		}
	}

	cancel()
	select {
	case line, ok := <-ch:
		if ok {
			t.Fatalf("got %q after cancel, want the channel closed", line.Text)
		}
	case <-time.After(logsWait):
		t.Fatal("the channel was not closed when ctx ended")
	}
	l.mu.Lock()
	watchers := len(l.watch)
	l.mu.Unlock()
	if watchers != 0 {
		t.Errorf("%d followers registered after cancel, want 0", watchers)
	}
	// Lines after the follower left are still recorded, and nothing panics.
	fmt.Fprintf(w, "after\n")
	if got := l.Tail(1); got[0].Text != "after" {
		t.Errorf("Tail(1) = %q, want after", got[0].Text)
	}
}

func TestLogFollowDropsSlowReader(t *testing.T) {
	l := NewLogs("orders", nil)
	w := l.Writer("stdout")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, slow := l.Follow(ctx, 0)
	_, fast := l.Follow(ctx, 0)

	// Writing never waits for a follower: this finishes although slow is never read.
	const total = followBuffer + 50
	wrote := make(chan struct{})
	fastGot := make(chan int, 1)
	go func() {
		defer close(wrote)
		n := 0
		for i := range total {
			fmt.Fprintf(w, "line-%d\n", i)
			if line := <-fast; line.Text == fmt.Sprintf("line-%d", i) {
				n++
			}
		}
		fastGot <- n
	}()
	select {
	case <-wrote:
	case <-time.After(logsWait):
		t.Fatal("writing blocked on a follower that does not read")
	}
	if n := <-fastGot; n != total {
		t.Errorf("the reading follower got %d of %d lines", n, total)
	}

	// The slow follower got what fitted in its buffer, then its channel was closed.
	n := 0
	for line := range slow {
		if want := fmt.Sprintf("line-%d", n); line.Text != want {
			t.Fatalf("slow follower line %d = %q, want %q", n, line.Text, want)
		}
		n++
	}
	if n != followBuffer {
		t.Errorf("slow follower got %d lines before being dropped, want %d", n, followBuffer)
	}
	select {
	case line, ok := <-fast:
		t.Errorf("the reading follower: got %q (open %v), want nothing pending and still open", line.Text, ok)
	default:
	}
	cancel() // the dropped follower's ctx ends later: no second close
	select {
	case _, ok := <-fast:
		if ok {
			t.Error("fast channel delivered after cancel, want closed")
		}
	case <-time.After(logsWait):
		t.Fatal("fast channel not closed after cancel")
	}
}

func TestLogsConcurrentWriters(t *testing.T) {
	l := NewLogs("orders", slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, ch := l.Follow(ctx, 0)
	var wg sync.WaitGroup
	const writers, each = 4, 50
	for i := range writers {
		w := l.Writer(fmt.Sprintf("s%d", i))
		wg.Go(func() {
			for j := range each {
				fmt.Fprintf(w, "w%d-%d\n", i, j)
			}
		})
	}
	wg.Wait()
	lines := l.Tail(0)
	if len(lines) != writers*each {
		t.Fatalf("%d lines, want %d", len(lines), writers*each)
	}
	for i, line := range lines {
		if line.Seq != uint64(i+1) {
			t.Fatalf("lines[%d].Seq = %d, want %d", i, line.Seq, i+1)
		}
	}
	if len(ch) != writers*each {
		t.Errorf("follower has %d lines buffered, want %d", len(ch), writers*each)
	}
}

// logCapture is a gateway logger whose records the test reads back.
type logCapture struct{ testkit.SyncBuffer }

func (c *logCapture) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(c.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("gateway log line %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out
}

func newLogCapture() (*logCapture, *slog.Logger) {
	c := &logCapture{}
	return c, slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug - 8}))
}

func TestLogsRelogSlogLines(t *testing.T) {
	capture, gateway := newLogCapture()
	l := NewLogs("orders", gateway)

	// What fn.Logger writes in the plugin: slog JSON lines on stderr.
	plugin := slog.New(slog.NewJSONHandler(l.Writer("stderr"), &slog.HandlerOptions{Level: slog.LevelDebug}))
	plugin.Debug("starting", "port", 0)
	plugin.Info("order placed", "order", "o-17", "total", 42.5)
	plugin.Warn("disk low", "free", 12)
	plugin.Error("payment failed", "function", "spoofed")

	want := []struct {
		level, msg string
		attrs      map[string]any
	}{
		{"DEBUG", "starting", map[string]any{"port": float64(0)}},
		{"INFO", "order placed", map[string]any{"order": "o-17", "total": 42.5}},
		{"WARN", "disk low", map[string]any{"free": float64(12)}},
		{"ERROR", "payment failed", nil},
	}
	recs := capture.records(t)
	if len(recs) != len(want) {
		t.Fatalf("gateway logged %d records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		rec := recs[i]
		if rec["level"] != w.level || rec["msg"] != w.msg || rec["function"] != "orders" {
			t.Errorf("record %d = %v, want level %s, msg %q, function orders", i, rec, w.level, w.msg)
		}
		for k, v := range w.attrs {
			if rec[k] != v {
				t.Errorf("record %d: %s = %v, want %v", i, k, rec[k], v)
			}
		}
	}
	// The ring keeps the line as the function wrote it.
	if tail := l.Tail(1); !strings.Contains(tail[0].Text, `"msg":"payment failed"`) {
		t.Errorf("ring line = %q, want the raw JSON", tail[0].Text)
	}
}

func TestLogsRelogHclogLines(t *testing.T) {
	capture, gateway := newLogCapture()
	l := NewLogs("orders", gateway)

	// What go-plugin's plugin side writes: hclog JSON lines.
	plugin := hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: l.Writer("stderr"), JSONFormat: true, Level: hclog.Trace})
	plugin.Trace("tracing", "k", "v")
	plugin.Debug("debugging")
	plugin.Info("serving", "addr", "/tmp/x.sock")
	plugin.Warn("warning")
	plugin.Error("plugin error", "err", "boom")

	want := []struct{ level, msg string }{
		{"DEBUG-4", "tracing"},
		{"DEBUG", "debugging"},
		{"INFO", "serving"},
		{"WARN", "warning"},
		{"ERROR", "plugin error"},
	}
	recs := capture.records(t)
	if len(recs) != len(want) {
		t.Fatalf("gateway logged %d records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		rec := recs[i]
		if rec["level"] != w.level || rec["msg"] != w.msg || rec["function"] != "orders" {
			t.Errorf("record %d = %v, want level %s, msg %q, function orders", i, rec, w.level, w.msg)
		}
		for _, k := range []string{"@message", "@level", "@timestamp", "@module"} {
			if _, ok := rec[k]; ok {
				t.Errorf("record %d keeps hclog's %s: %v", i, k, rec)
			}
		}
	}
	if recs[0]["k"] != "v" || recs[2]["addr"] != "/tmp/x.sock" || recs[4]["err"] != "boom" {
		t.Errorf("attributes lost: %v", recs)
	}
}

func TestLogsRelogPlainLines(t *testing.T) {
	capture, gateway := newLogCapture()
	l := NewLogs("orders", gateway)
	io.WriteString(l.Writer("stdout"), "listening on 8080\n{not json\n")
	recs := capture.records(t)
	if len(recs) != 2 {
		t.Fatalf("gateway logged %d records, want 2: %v", len(recs), recs)
	}
	for i, msg := range []string{"listening on 8080", "{not json"} {
		rec := recs[i]
		if rec["level"] != "INFO" || rec["msg"] != msg || rec["function"] != "orders" || rec["stream"] != "stdout" {
			t.Errorf("record %d = %v, want INFO %q with function and stream", i, rec, msg)
		}
	}
}
