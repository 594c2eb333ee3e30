package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogLine is one line a function's process wrote.
type LogLine struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
	// Node is the node whose process wrote it, in a cluster's logs (docs/cluster.md#logs).
	Node string `json:"node,omitempty"`
}

// LogSink receives every line of every function as it is written, beside the node's own ring:
// the cluster's log (docs/cluster.md#logs). Append must not block.
type LogSink interface {
	Append(function string, line LogLine)
}

// Logs collects a function's output: each line goes to the gateway's structured log, tagged
// with the function's name, and into a bounded ring that `edgefn logs` reads and follows.
type Logs struct {
	function string
	logger   *slog.Logger
	sink     LogSink // nil: the ring alone

	mu    sync.Mutex
	ring  []LogLine
	next  int // index in ring of the next write
	full  bool
	seq   uint64
	watch map[chan LogLine]struct{}
}

// Bounds of the log ring and of one line.
const (
	logRingLines = 1000
	maxLineBytes = 16 << 10
	followBuffer = 256
)

// NewLogs returns an empty log of the function.
func NewLogs(function string, logger *slog.Logger) *Logs {
	return &Logs{function: function, logger: logger, ring: make([]LogLine, logRingLines), watch: map[chan LogLine]struct{}{}}
}

// Writer returns a writer that splits what it is given into lines of the stream.
func (l *Logs) Writer(stream string) io.Writer { return &lineWriter{logs: l, stream: stream} }

// Tail returns up to n of the most recent lines, oldest first.
func (l *Logs) Tail(n int) []LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tailLocked(n)
}

func (l *Logs) tailLocked(n int) []LogLine {
	count := l.next
	if l.full {
		count = len(l.ring)
	}
	if n <= 0 || n > count {
		n = count
	}
	out := make([]LogLine, 0, n)
	for i := count - n; i < count; i++ {
		idx := i
		if l.full {
			idx = (l.next + i) % len(l.ring)
		}
		out = append(out, l.ring[idx])
	}
	return out
}

// Follow returns the last n lines and a channel of the lines that come after them. The channel
// is closed when ctx ends, or when the reader falls more than a buffer behind (it then misses
// lines rather than slowing the function down).
func (l *Logs) Follow(ctx context.Context, n int) ([]LogLine, <-chan LogLine) {
	ch := make(chan LogLine, followBuffer)
	l.mu.Lock()
	tail := l.tailLocked(n)
	l.watch[ch] = struct{}{}
	l.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.mu.Lock()
		if _, ok := l.watch[ch]; ok {
			delete(l.watch, ch)
			close(ch)
		}
		l.mu.Unlock()
	}()
	return tail, ch
}

func (l *Logs) add(stream, text string) {
	l.emit(stream, text)
	line := l.remember(stream, text)
	if l.sink != nil {
		l.sink.Append(l.function, line)
	}
}

// remember keeps the line in the ring and hands it to the followers.
func (l *Logs) remember(stream, text string) LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	line := LogLine{Seq: l.seq, Time: time.Now().UTC(), Stream: stream, Text: text}
	l.ring[l.next] = line
	l.next++
	if l.next == len(l.ring) {
		l.next, l.full = 0, true
	}
	for ch := range l.watch {
		select {
		case ch <- line:
		default:
			delete(l.watch, ch)
			close(ch)
		}
	}
	return line
}

// emit writes the line to the gateway's log: JSON log records (fn.Logger's, with a message)
// keep their level, message and attributes; anything else is logged as it is.
func (l *Logs) emit(stream, text string) {
	if l.logger == nil {
		return
	}
	if strings.HasPrefix(text, "{") {
		var rec map[string]any
		if json.Unmarshal([]byte(text), &rec) == nil && recordMessage(rec) != "" {
			l.logger.Log(context.Background(), recordLevel(rec), recordMessage(rec), recordAttrs(l.function, rec)...)
			return
		}
	}
	l.logger.Info(text, "function", l.function, "stream", stream)
}

var _ io.Writer = (*lineWriter)(nil)

// lineWriter turns a byte stream into lines; a line longer than maxLineBytes is cut.
type lineWriter struct {
	logs   *Logs
	stream string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLineBytes {
				w.flush()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	line := w.buf
	if len(line) > maxLineBytes {
		line = line[:maxLineBytes]
	}
	text := strings.TrimRight(string(line), "\r")
	w.buf = w.buf[:0]
	if text != "" {
		w.logs.add(w.stream, text)
	}
}

// recordMessage, recordLevel and recordAttrs read a JSON log line: slog's keys (msg, level) as
// fn.Logger writes them, or hclog's (@message, @level) as go-plugin's own plugin-side log does.
func recordMessage(rec map[string]any) string {
	if s, ok := rec["msg"].(string); ok {
		return s
	}
	s, _ := rec["@message"].(string)
	return s
}

func recordLevel(rec map[string]any) slog.Level {
	var level slog.Level
	s, ok := rec["level"].(string)
	if !ok {
		s, _ = rec["@level"].(string)
	}
	if s == "trace" {
		return slog.LevelDebug - 4
	}
	_ = level.UnmarshalText([]byte(s))
	return level
}

func recordAttrs(function string, rec map[string]any) []any {
	attrs := []any{slog.String("function", function)}
	for k, v := range rec {
		switch k {
		case "msg", "level", "time", "function", "@message", "@level", "@timestamp", "@module":
		default:
			attrs = append(attrs, slog.Any(k, v))
		}
	}
	return attrs
}
